#!/usr/bin/env python3
"""Render a `tmux capture-pane -e -p` dump (text + SGR escapes) to a PNG that looks like a terminal.

    render_ansi.py CAPTURE.ans OUT.png --cols 110 --rows 32 [--background dark|light]
                   [--cursor X,Y] [--title TEXT] [--scale 2] [--font-size 15]

What it understands: SGR attributes (bold, dim, italic, underline, reverse, strike), 16 / 256 /
truecolour foreground and background (`38;5;n`, `38;2;r;g;b`, colon forms too), default colours,
and character widths exactly as tmux sees them: widths come from the C library's wcwidth under
C.UTF-8 (what tmux 3.x uses), zero-width characters join the previous cell, wide characters take two.

Glyphs fall back per character: DejaVu Sans Mono (regular/bold/oblique) → Noto Sans Mono CJK →
Noto Color Emoji (bitmap, scaled into two cells) → DejaVu Sans → Noto Sans Mono. Box-drawing and
block characters are drawn as geometry so lines join seamlessly between rows, like real terminals do.
Needs Pillow and fontTools (pip) and the fonts (apt: fonts-dejavu-core fonts-noto-cjk
fonts-noto-color-emoji).
"""

import argparse
import ctypes
import ctypes.util
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

try:
    from fontTools.ttLib import TTCollection, TTFont
except ImportError:  # coverage checks then fall back to Pillow's notdef test
    TTFont = TTCollection = None

# ---------------------------------------------------------------------------------------------
# Colours

# The 16 ANSI colours: a calm, modern palette (close to what current terminal emulators ship).
ANSI16 = [
    (0x1d, 0x1f, 0x21), (0xcc, 0x66, 0x66), (0x8c, 0xb3, 0x6b), (0xe0, 0xb0, 0x5c),
    (0x5f, 0x8f, 0xd0), (0xb2, 0x94, 0xbb), (0x5e, 0xb3, 0xb0), (0xc5, 0xc8, 0xc6),
    (0x6b, 0x6f, 0x73), (0xf0, 0x78, 0x78), (0xb5, 0xd8, 0x8a), (0xf0, 0xc6, 0x74),
    (0x81, 0xa2, 0xf0), (0xd4, 0xa6, 0xe0), (0x8a, 0xd8, 0xd4), (0xff, 0xff, 0xff),
]

BACKGROUNDS = {
    # default fg, default bg, window chrome (title bar), title text, border
    "dark": dict(fg=(0xd0, 0xd0, 0xd0), bg=(0x17, 0x18, 0x1b), chrome=(0x2b, 0x2d, 0x31),
                 chrome_text=(0xa0, 0xa4, 0xaa), edge=(0x3a, 0x3d, 0x42)),
    "light": dict(fg=(0x1c, 0x1c, 0x1c), bg=(0xfc, 0xfc, 0xfb), chrome=(0xe6, 0xe6, 0xe4),
                  chrome_text=(0x5a, 0x5a, 0x5a), edge=(0xc8, 0xc8, 0xc4)),
}


def xterm256(n):
    if n < 16:
        return ANSI16[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


def blend(a, b, t):
    return tuple(round(a[i] * (1 - t) + b[i] * t) for i in range(3))


# ---------------------------------------------------------------------------------------------
# Character widths, as tmux computes them

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.setlocale.restype = ctypes.c_char_p
_libc.setlocale.argtypes = [ctypes.c_int, ctypes.c_char_p]
LC_CTYPE = 0
if not _libc.setlocale(LC_CTYPE, b"C.UTF-8"):
    _libc.setlocale(LC_CTYPE, b"en_US.UTF-8")
_libc.wcwidth.argtypes = [ctypes.c_wchar]
_libc.wcwidth.restype = ctypes.c_int


@lru_cache(maxsize=None)
def wcwidth(ch):
    o = ord(ch)
    if o < 0x7F:
        return 1 if o >= 0x20 else 0
    w = _libc.wcwidth(ch)
    if w >= 0:
        return w
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class Style:
    fg: object = None  # None = default, int = palette index, tuple = rgb
    bg: object = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    strike: bool = False
    hidden: bool = False


@dataclass
class Cell:
    text: str = " "
    style: Style = Style()
    width: int = 1  # 2 for the first half of a wide character, 0 for its second half


def _colour(params, i):
    """Extended colour at params[i] (after 38/48); returns (colour, next index)."""
    if i < len(params) and params[i] == 5 and i + 1 < len(params):
        return params[i + 1] & 0xFF, i + 2
    if i < len(params) and params[i] == 2 and i + 3 < len(params):
        return (params[i + 1] & 0xFF, params[i + 2] & 0xFF, params[i + 3] & 0xFF), i + 4
    return None, len(params)


# The SGR parameters that only set or clear attributes: parameter -> the Style fields it sets.
_SGR_FLAGS = {
    1: {"bold": True},
    2: {"dim": True},
    3: {"italic": True},
    4: {"underline": True},
    21: {"underline": True},
    7: {"reverse": True},
    8: {"hidden": True},
    9: {"strike": True},
    22: {"bold": False, "dim": False},
    23: {"italic": False},
    24: {"underline": False},
    27: {"reverse": False},
    28: {"hidden": False},
    29: {"strike": False},
}


def apply_sgr(style, raw):
    if raw == "":
        return Style()
    params = []
    for part in raw.split(";"):
        if ":" in part:  # colon sub-parameters: 38:5:n, 38:2::r:g:b, 4:3
            sub = [int(x) if x else 0 for x in part.split(":")]
            if sub[0] in (38, 48, 58):
                if len(sub) >= 3 and sub[1] == 5:
                    params.append((sub[0], sub[2] & 0xFF))
                elif len(sub) >= 5 and sub[1] == 2:
                    rgb = sub[-3:]
                    params.append((sub[0], tuple(v & 0xFF for v in rgb)))
                continue
            if sub[0] == 4:
                params.append(24 if len(sub) > 1 and sub[1] == 0 else 4)
                continue
            params.append(sub[0])
        else:
            params.append(int(part) if part else 0)
    i = 0
    s = style
    while i < len(params):
        p = params[i]
        i += 1
        if isinstance(p, tuple):
            which, colour = p
            if which == 38:
                s = replace(s, fg=colour)
            elif which == 48:
                s = replace(s, bg=colour)
            continue
        if p == 0:
            s = Style()
        elif p in _SGR_FLAGS:
            s = replace(s, **_SGR_FLAGS[p])
        elif 30 <= p <= 37:
            s = replace(s, fg=p - 30)
        elif p == 39:
            s = replace(s, fg=None)
        elif 40 <= p <= 47:
            s = replace(s, bg=p - 40)
        elif p == 49:
            s = replace(s, bg=None)
        elif 90 <= p <= 97:
            s = replace(s, fg=p - 90 + 8)
        elif 100 <= p <= 107:
            s = replace(s, bg=p - 100 + 8)
        elif p in (38, 48, 58):
            colour, i = _colour(params, i)
            if colour is not None and p == 38:
                s = replace(s, fg=colour)
            elif colour is not None and p == 48:
                s = replace(s, bg=colour)
    return s


ESCAPE = re.compile(r"\x1b(?:\[([0-9;:?<>=]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


def parse(text, cols, rows):
    """Returns rows × cols cells. SGR state carries across lines, as tmux writes it."""
    grid = [[Cell() for _ in range(cols)] for _ in range(rows)]
    style = Style()
    lines = text.split("\n")
    for y, line in enumerate(lines[:rows]):
        x = 0
        pos = 0
        row = grid[y]
        while pos < len(line):
            ch = line[pos]
            if ch == "\x1b":
                m = ESCAPE.match(line, pos)
                if m is None:
                    pos += 1
                    continue
                if m.group(2) == "m":
                    style = apply_sgr(style, m.group(1))
                pos = m.end()
                continue
            pos += 1
            if ch == "\r":
                continue
            w = wcwidth(ch)
            if w == 0:
                # Joins the previous cell (combining marks, ZWJ, variation selectors).
                px = x - 1
                while px > 0 and row[px].width == 0:
                    px -= 1
                if 0 <= px < cols:
                    row[px].text += ch
                continue
            if x + w > cols:
                break
            row[x] = Cell(ch, style, w)
            if w == 2:
                row[x + 1] = Cell("", style, 0)
            x += w
    for row in grid:
        _merge_flags(row)
    return grid


def _is_ri(text):
    return len(text) >= 1 and 0x1F1E6 <= ord(text[0]) <= 0x1F1FF


def _merge_flags(row):
    """Two regional-indicator cells side by side are one flag, as terminals with emoji support draw them."""
    x = 0
    while x + 1 < len(row):
        a, b = row[x], row[x + 1]
        if a.width == 1 and b.width == 1 and _is_ri(a.text) and _is_ri(b.text):
            row[x] = Cell(a.text + b.text, a.style, 2)
            row[x + 1] = Cell("", a.style, 0)
            x += 2
        else:
            x += 1


# ---------------------------------------------------------------------------------------------
# Fonts


def fc_match(pattern):
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}|%{index}", pattern], capture_output=True, text=True,
                             check=True).stdout
        path, _, index = out.partition("|")
        return path, int(index or 0)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None, 0


class FontFace:
    """One font file at one pixel size, with its character coverage."""

    def __init__(self, pattern, size, expect=None, bitmap_size=None):
        path, index = fc_match(pattern)
        self.ok = bool(path) and (expect is None or expect.lower() in path.lower())
        self.path = path
        self.scaled = bitmap_size is not None
        self.font = None
        self.cmap = set()
        if not self.ok:
            return
        try:
            self.font = ImageFont.truetype(path, bitmap_size or size, index=index)
        except OSError:
            self.ok = False
            return
        if TTFont is not None:
            try:
                if path.lower().endswith((".ttc", ".otc")):
                    tt = TTCollection(path, lazy=True).fonts[index]
                else:
                    tt = TTFont(path, lazy=True, fontNumber=index)
                self.cmap = set(tt.getBestCmap() or {})
            except Exception:  # noqa: BLE001 - any parsing problem: treat as covering nothing
                self.cmap = set()

    def covers(self, text):
        return self.ok and all(ord(c) in self.cmap or unicodedata.category(c) in ("Mn", "Me", "Cf")
                               or ord(c) in (0xFE0F, 0xFE0E) for c in text) and ord(text[0]) in self.cmap


def is_emoji_like(text):
    o = ord(text[0])
    if len(text) > 1 and text[1] == "\ufe0f" or ("\u200d" in text.rstrip("\u200d")):
        return True
    return (0x1F000 <= o <= 0x1FAFF) or (0x2600 <= o <= 0x27BF and wcwidth(text[0]) == 2) or o in (0x2B50, 0x2B55,
                                                                                                   0x231A, 0x231B)


class Fonts:
    def __init__(self, px):
        self.px = px
        self.regular = FontFace("DejaVu Sans Mono", px, expect="DejaVuSansMono")
        if not self.regular.ok:
            self.regular = FontFace("monospace", px)
        self.bold = FontFace("DejaVu Sans Mono:bold", px, expect="DejaVuSansMono-Bold")
        self.italic = FontFace("DejaVu Sans Mono:oblique", px, expect="DejaVuSansMono-Oblique")
        self.bold_italic = FontFace("DejaVu Sans Mono:bold:oblique", px, expect="DejaVuSansMono-BoldOblique")
        self.cjk = FontFace("Noto Sans Mono CJK JP", px, expect="CJK")
        self.cjk_bold = FontFace("Noto Sans Mono CJK JP:bold", px, expect="CJK")
        self.emoji = FontFace("Noto Color Emoji", px, expect="Emoji", bitmap_size=109)
        self.sans = FontFace("DejaVu Sans", px, expect="DejaVuSans")
        self.other = FontFace("Noto Sans Mono", px, expect="NotoSansMono")
        missing = [name for name, f in (("DejaVu Sans Mono", self.regular), ("Noto Sans Mono CJK", self.cjk),
                                        ("Noto Color Emoji", self.emoji)) if not f.ok]
        if missing:
            print("render_ansi: missing fonts (glyphs may show as boxes): " + ", ".join(missing), file=sys.stderr)
        f = self.regular.font
        ascent, descent = f.getmetrics()
        self.ascent = ascent
        self.cell_w = round(f.getlength("M"))
        self.cell_h = round((ascent + descent) * 1.08)
        self.baseline = round((self.cell_h - (ascent + descent)) / 2 + ascent)

    def face_for(self, text, style):
        """The font that has this grapheme, in fallback order."""
        primary = self.regular
        if style.bold and style.italic and self.bold_italic.ok:
            primary = self.bold_italic
        elif style.bold and self.bold.ok:
            primary = self.bold
        elif style.italic and self.italic.ok:
            primary = self.italic
        if is_emoji_like(text) and self.emoji.covers(text):
            return self.emoji
        for face in (primary, self.regular, self.cjk_bold if style.bold else self.cjk, self.cjk, self.emoji,
                     self.sans, self.other):
            if face.ok and face.covers(text):
                return face
        return primary


# ---------------------------------------------------------------------------------------------
# Drawing

LIGHT, HEAVY, DOUBLE = 1, 2, 3
# Box-drawing characters as (up, right, down, left) line weights.
BOX = {
    "─": (0, 1, 0, 1), "━": (0, 2, 0, 2), "│": (1, 0, 1, 0), "┃": (2, 0, 2, 0),
    "┌": (0, 1, 1, 0), "┐": (0, 0, 1, 1), "└": (1, 1, 0, 0), "┘": (1, 0, 0, 1),
    "├": (1, 1, 1, 0), "┤": (1, 0, 1, 1), "┬": (0, 1, 1, 1), "┴": (1, 1, 0, 1), "┼": (1, 1, 1, 1),
    "╭": (0, 1, 1, 0), "╮": (0, 0, 1, 1), "╰": (1, 1, 0, 0), "╯": (1, 0, 0, 1),
    "═": (0, 3, 0, 3), "║": (3, 0, 3, 0),
}
BLOCKS = {  # (x0, y0, x1, y1) as fractions of the cell
    "█": (0, 0, 1, 1), "▌": (0, 0, 0.5, 1), "▐": (0.5, 0, 1, 1), "▀": (0, 0, 1, 0.5), "▄": (0, 0.5, 1, 1),
    "▏": (0, 0, 0.125, 1), "▎": (0, 0, 0.25, 1), "▍": (0, 0, 0.375, 1), "▊": (0, 0, 0.75, 1),
    "▁": (0, 0.875, 1, 1), "▂": (0, 0.75, 1, 1), "▃": (0, 0.625, 1, 1), "▅": (0, 0.375, 1, 1),
}


class Renderer:
    def __init__(self, cols, rows, background="dark", scale=2, font_size=15, title=None, padding=14):
        self.cols, self.rows = cols, rows
        self.theme = BACKGROUNDS[background]
        self.scale = scale
        self.fonts = Fonts(round(font_size * scale))
        self.cw, self.ch = self.fonts.cell_w, self.fonts.cell_h
        self.pad = round(padding * scale)
        self.title = title
        self.titlebar = round(30 * scale) if title is not None else 0
        self.radius = round(9 * scale)
        self.origin = (self.pad, self.titlebar + self.pad)

    def colours(self, style):
        fg = self.resolve(style.fg, self.theme["fg"])
        bg = self.resolve(style.bg, self.theme["bg"])
        if style.reverse:
            fg, bg = bg, fg
        if style.dim:
            fg = blend(fg, bg, 0.45)
        return fg, bg

    @staticmethod
    def resolve(colour, default):
        if colour is None:
            return default
        if isinstance(colour, tuple):
            return colour
        return xterm256(colour)

    def render(self, grid, cursor=None):
        width = self.cols * self.cw + 2 * self.pad
        height = self.rows * self.ch + 2 * self.pad + self.titlebar
        img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        # Window: rounded rectangle, optional title bar with the three dots.
        draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=self.radius, fill=self.theme["bg"] + (255,),
                               outline=self.theme["edge"] + (255,), width=max(1, self.scale))
        if self.titlebar:
            draw.rounded_rectangle((0, 0, width - 1, self.titlebar + self.radius), radius=self.radius,
                                   fill=self.theme["chrome"] + (255,), outline=self.theme["edge"] + (255,),
                                   width=max(1, self.scale))
            draw.rectangle((max(1, self.scale), self.titlebar, width - 1 - max(1, self.scale),
                            self.titlebar + self.radius), fill=self.theme["bg"] + (255,))
            draw.line((0, self.titlebar, width, self.titlebar), fill=self.theme["edge"] + (255,),
                      width=max(1, self.scale))
            r = round(6 * self.scale)
            cy = self.titlebar // 2
            for i, colour in enumerate(((0xff, 0x5f, 0x57), (0xfe, 0xbc, 0x2e), (0x28, 0xc8, 0x40))):
                cx = round((18 + i * 20) * self.scale)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour + (255,))
            if self.title:
                tf = self.fonts.sans.font if self.fonts.sans.ok else self.fonts.regular.font
                tf = tf.font_variant(size=round(13 * self.scale))
                tw = draw.textlength(self.title, font=tf)
                draw.text(((width - tw) / 2, cy), self.title, font=tf, fill=self.theme["chrome_text"], anchor="lm")

        ox, oy = self.origin
        # Backgrounds first (a wide glyph may overhang into its second cell).
        for y, row in enumerate(grid):
            for x, cell in enumerate(row):
                if cell.width == 0:
                    continue
                _, bg = self.colours(cell.style)
                if bg != self.theme["bg"]:
                    x0, y0 = ox + x * self.cw, oy + y * self.ch
                    draw.rectangle((x0, y0, x0 + cell.width * self.cw - 1, y0 + self.ch - 1), fill=bg)
        # Backgrounds of padding beside full-width bars: extend the first/last column's colour so
        # bars (title, status) run to the window edge like in a real terminal with padding.
        for y, row in enumerate(grid):
            for x, side in ((0, 0), (self.cols - 1, 1)):
                cell = row[x] if row[x].width != 0 else row[x - 1]
                _, bg = self.colours(cell.style)
                if bg != self.theme["bg"] and self._row_is_bar(row):
                    y0 = oy + y * self.ch
                    if side == 0:
                        draw.rectangle((max(1, self.scale), y0, ox - 1, y0 + self.ch - 1), fill=bg)
                    else:
                        draw.rectangle((ox + self.cols * self.cw, y0, width - 1 - max(1, self.scale),
                                        y0 + self.ch - 1), fill=bg)
        for y, row in enumerate(grid):
            for x, cell in enumerate(row):
                if cell.width == 0 or cell.text == " " or cell.style.hidden:
                    if cell.width and (cell.style.underline or cell.style.strike):
                        self.decorate(draw, x, y, cell)
                    continue
                self.glyph(img, draw, x, y, cell)
                if cell.style.underline or cell.style.strike:
                    self.decorate(draw, x, y, cell)
        if cursor is not None:
            cx, cy = cursor
            if 0 <= cx < self.cols and 0 <= cy < self.rows:
                cell = grid[cy][cx]
                fg, bg = self.colours(cell.style)
                x0, y0 = ox + cx * self.cw, oy + cy * self.ch
                draw.rectangle((x0, y0, x0 + max(2, round(2 * self.scale)) - 1, y0 + self.ch - 1), fill=fg)
        return img

    def _row_is_bar(self, row):
        """A row whose background is one colour from edge to edge (title bar, status bar)."""
        first = self.colours(row[0].style)[1]
        last = self.colours(row[-1].style if row[-1].width != 0 else row[-2].style)[1]
        return first == last and all(self.colours(c.style)[1] == first for c in row if c.width != 0)

    def decorate(self, draw, x, y, cell):
        fg, _ = self.colours(cell.style)
        ox, oy = self.origin
        x0, y0 = ox + x * self.cw, oy + y * self.ch
        w = max(cell.width, 1) * self.cw
        t = max(1, round(self.scale))
        if cell.style.underline:
            uy = y0 + self.fonts.baseline + round(2 * self.scale)
            draw.rectangle((x0, uy, x0 + w - 1, uy + t - 1), fill=fg)
        if cell.style.strike:
            sy = y0 + self.ch // 2
            draw.rectangle((x0, sy, x0 + w - 1, sy + t - 1), fill=fg)

    def glyph(self, img, draw, x, y, cell):
        fg, bg = self.colours(cell.style)
        ox, oy = self.origin
        x0, y0 = ox + x * self.cw, oy + y * self.ch
        base = cell.text[0]
        if base in BOX and len(cell.text) == 1:
            self.box(draw, x0, y0, BOX[base], fg)
            return
        if base in BLOCKS and len(cell.text) == 1:
            fx0, fy0, fx1, fy1 = BLOCKS[base]
            draw.rectangle((x0 + round(fx0 * self.cw), y0 + round(fy0 * self.ch), x0 + round(fx1 * self.cw) - 1,
                            y0 + round(fy1 * self.ch) - 1), fill=fg)
            return
        if len(cell.text) > 1 and cell.text.endswith("\u200d"):
            cell = replace_cell(cell, cell.text.rstrip("\u200d"))  # a dangling joiner joins nothing
        face = self.fonts.face_for(cell.text, cell.style)
        cell_w = cell.width * self.cw
        if face.scaled:  # colour bitmap emoji: render big, scale into the cells
            self.emoji(img, face, cell.text, x0, y0, cell_w)
            return
        text = cell.text.replace("\ufe0f", "").replace("\ufe0e", "")
        font = face.font
        advance = font.getlength(text)
        # Centre glyphs that are narrower/wider than their cells (CJK, fallbacks); mono glyphs are exact.
        gx = x0 + (cell_w - advance) / 2 if abs(advance - cell_w) > 0.5 else x0
        if advance > cell_w * 1.15:  # a fallback glyph too wide for its cells: shrink it
            font = font.font_variant(size=max(6, int(font.size * cell_w / advance)))
            advance = font.getlength(text)
            gx = x0 + (cell_w - advance) / 2
        stroke = 0
        if cell.style.bold and face not in (self.fonts.bold, self.fonts.bold_italic, self.fonts.cjk_bold):
            stroke = 0  # synthetic bold smears at this size; colour carries the emphasis instead
        draw.text((gx, y0 + self.fonts.baseline), text, font=font, fill=fg, anchor="ls", stroke_width=stroke)

    def emoji(self, img, face, text, x0, y0, cell_w):
        glyph = _emoji_bitmap(face.path, text)
        if glyph is None:
            return
        size = round(min(cell_w, self.ch) * 0.98)
        g = glyph.resize((size, size), Image.LANCZOS)
        img.alpha_composite(g, (round(x0 + (cell_w - size) / 2), round(y0 + (self.ch - size) / 2)))

    def box(self, draw, x0, y0, arms, fg):
        up, right, down, left = arms
        cx = x0 + self.cw // 2
        cy = y0 + self.ch // 2
        x1, y1 = x0 + self.cw - 1, y0 + self.ch - 1
        gap = max(2, round(2 * self.scale))
        for weight, vertical, a, b in ((up, True, y0, cy), (down, True, cy, y1), (left, False, x0, cx),
                                       (right, False, cx, x1)):
            if not weight:
                continue
            t = max(1, round(self.scale * (2 if weight == HEAVY else 1)))
            offsets = (-gap, gap) if weight == DOUBLE else (0,)
            for off in offsets:
                if vertical:
                    lx = cx - t // 2 + off
                    draw.rectangle((lx, a, lx + t - 1, b), fill=fg)
                else:
                    ly = cy - t // 2 + off
                    draw.rectangle((a, ly, b, ly + t - 1), fill=fg)


def replace_cell(cell, text):
    return Cell(text, cell.style, cell.width)


@lru_cache(maxsize=256)
def _emoji_bitmap(path, text):
    font = ImageFont.truetype(path, 109)
    probe = text.replace("\ufe0e", "")
    try:
        bbox = font.getbbox(probe)
    except Exception:  # noqa: BLE001
        return None
    w, h = max(1, bbox[2] - bbox[0]), max(1, bbox[3] - bbox[1])
    canvas = Image.new("RGBA", (w + 16, h + 16), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8 - bbox[0], 8 - bbox[1]), probe, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    canvas = canvas.crop(box)
    side = max(canvas.width, canvas.height)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(canvas, ((side - canvas.width) // 2, (side - canvas.height) // 2))
    return square


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("output")
    ap.add_argument("--cols", type=int, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--background", choices=sorted(BACKGROUNDS), default="dark")
    ap.add_argument("--cursor", help="X,Y of a bar cursor to draw (0-based)")
    ap.add_argument("--title", help="window title; omit for no title bar")
    ap.add_argument("--scale", type=float, default=2)
    ap.add_argument("--font-size", type=float, default=15)
    args = ap.parse_args(argv)
    with open(args.capture, encoding="utf-8", errors="replace") as f:
        text = f.read()
    grid = parse(text, args.cols, args.rows)
    cursor = tuple(int(v) for v in args.cursor.split(",")) if args.cursor else None
    scale = args.scale if args.scale != int(args.scale) else int(args.scale)
    renderer = Renderer(args.cols, args.rows, args.background, scale=scale, font_size=args.font_size, title=args.title)
    img = renderer.render(grid, cursor)
    img.save(args.output, optimize=True)


if __name__ == "__main__":
    main()
