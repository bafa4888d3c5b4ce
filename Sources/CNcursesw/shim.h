#ifndef DMDESK_CNCURSESW_SHIM_H
#define DMDESK_CNCURSESW_SHIM_H
// SwiftPM drops pkg-config's -D flags, so wide-character curses is switched on here.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

// Macros and variadic functions Swift cannot import, wrapped as functions.
static inline int dm_getmaxy(WINDOW *w) { return getmaxy(w); }
static inline int dm_getmaxx(WINDOW *w) { return getmaxx(w); }
static inline int dm_color_pair(int n) { return (int)COLOR_PAIR(n); }
static inline int dm_attr_bold(void) { return (int)A_BOLD; }
static inline int dm_attr_reverse(void) { return (int)A_REVERSE; }
static inline int dm_attr_underline(void) { return (int)A_UNDERLINE; }
static inline int dm_attr_dim(void) { return (int)A_DIM; }
static inline int dm_attr_standout(void) { return (int)A_STANDOUT; }
static inline int dm_attron(WINDOW *w, int a) { return wattron(w, a); }
static inline int dm_attroff(WINDOW *w, int a) { return wattroff(w, a); }
static inline int dm_attrset(WINDOW *w, int a) { return wattrset(w, a); }
static inline int dm_mvaddwstr(WINDOW *w, int y, int x, const wchar_t *s) { return mvwaddwstr(w, y, x, s); }
static inline int dm_mvaddnwstr(WINDOW *w, int y, int x, const wchar_t *s, int n) { return mvwaddnwstr(w, y, x, s, n); }
static inline int dm_mvaddstr(WINDOW *w, int y, int x, const char *s) { return mvwaddstr(w, y, x, s); }
static inline int dm_move(WINDOW *w, int y, int x) { return wmove(w, y, x); }
static inline int dm_clrtoeol(WINDOW *w) { return wclrtoeol(w); }
static inline int dm_get_wch(WINDOW *w, wint_t *ch) { return wget_wch(w, ch); }
static inline int dm_key_resize(void) { return KEY_RESIZE; }
static inline int dm_err(void) { return ERR; }
static inline int dm_key_code_yes(void) { return KEY_CODE_YES; }
static inline int dm_colors(void) { return COLORS; }
static inline int dm_color_pairs(void) { return COLOR_PAIRS; }
static inline int dm_lines(void) { return LINES; }
static inline int dm_cols(void) { return COLS; }
static inline WINDOW *dm_stdscr(void) { return stdscr; }
static inline int dm_wcwidth(wchar_t c) { return wcwidth(c); }
static inline int dm_hline(WINDOW *w, int y, int x, int n) { return mvwhline(w, y, x, ACS_HLINE, n); }
static inline int dm_vline(WINDOW *w, int y, int x, int n) { return mvwvline(w, y, x, ACS_VLINE, n); }

// Added for the console: one cell holding several code points (emoji ZWJ sequences) and italics.
static inline int dm_attr_italic(void) {
#ifdef A_ITALIC
    return (int)A_ITALIC;
#else
    return 0;
#endif
}
#endif
