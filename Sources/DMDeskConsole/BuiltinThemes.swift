/// Copies of themes/default.toml and themes/mono.toml compiled into the binary, so the console has a
/// theme from any working directory. A test checks they match the files; regenerate when those change.
enum BuiltinThemes {
    static let defaultTOML = #"""
# dmdesk default theme: light text on a dark terminal.
#
# Every UI role has:
#   fg, bg     colour in 256-colour terminals: a name (black red green yellow blue magenta cyan white,
#              brightblack … brightwhite), a number 0-255, or "default" (the terminal's own colour)
#   fg8, bg8   fallback when the terminal has fewer than 256 colours: one of the 8 basic names or "default"
#   attrs      any of "bold", "underline", "reverse", "dim", "italic", "standout"
name = "default"

[list]
fg = 252
bg = "default"
fg8 = "white"
bg8 = "default"
attrs = []

[selection]
fg = 231
bg = 24
fg8 = "white"
bg8 = "blue"
attrs = ["bold"]

[unread]
fg = 231
bg = "default"
fg8 = "white"
bg8 = "default"
attrs = ["bold"]

[muted]
fg = 244
bg = "default"
fg8 = "cyan"
bg8 = "default"
attrs = []

[customer]
fg = 223
bg = "default"
fg8 = "yellow"
bg8 = "default"
attrs = []

[bot]
fg = 114
bg = "default"
fg8 = "green"
bg8 = "default"
attrs = []

[operator]
fg = 117
bg = "default"
fg8 = "cyan"
bg8 = "default"
attrs = ["bold"]

[system]
fg = 246
bg = "default"
fg8 = "magenta"
bg8 = "default"
attrs = ["italic"]

[error]
fg = 203
bg = "default"
fg8 = "red"
bg8 = "default"
attrs = ["bold"]

[statusbar]
fg = 252
bg = 236
fg8 = "black"
bg8 = "cyan"
attrs = []

[compose]
fg = 231
bg = 235
fg8 = "white"
bg8 = "default"
attrs = []

[badge_bot]
fg = 16
bg = 114
fg8 = "black"
bg8 = "green"
attrs = []

[badge_human]
fg = 16
bg = 215
fg8 = "black"
bg8 = "yellow"
attrs = ["bold"]

[border]
fg = 240
bg = "default"
fg8 = "blue"
bg8 = "default"
attrs = []

[title]
fg = 231
bg = 24
fg8 = "white"
bg8 = "blue"
attrs = ["bold"]

[help]
fg = 252
bg = 237
fg8 = "white"
bg8 = "blue"
attrs = []
"""#

    static let monoTOML = #"""
# dmdesk mono theme: no colours at all, only attributes. Used when NO_COLOR is set.
# Keys are described in default.toml.
name = "mono"

[list]
fg = "default"
bg = "default"
attrs = []

[selection]
fg = "default"
bg = "default"
attrs = ["reverse"]

[unread]
fg = "default"
bg = "default"
attrs = ["bold"]

[muted]
fg = "default"
bg = "default"
attrs = ["dim"]

[customer]
fg = "default"
bg = "default"
attrs = []

[bot]
fg = "default"
bg = "default"
attrs = ["dim"]

[operator]
fg = "default"
bg = "default"
attrs = ["bold"]

[system]
fg = "default"
bg = "default"
attrs = ["dim"]

[error]
fg = "default"
bg = "default"
attrs = ["bold", "underline"]

[statusbar]
fg = "default"
bg = "default"
attrs = ["reverse"]

[compose]
fg = "default"
bg = "default"
attrs = []

[badge_bot]
fg = "default"
bg = "default"
attrs = ["reverse"]

[badge_human]
fg = "default"
bg = "default"
attrs = ["reverse", "bold"]

[border]
fg = "default"
bg = "default"
attrs = []

[title]
fg = "default"
bg = "default"
attrs = ["reverse", "bold"]

[help]
fg = "default"
bg = "default"
attrs = []
"""#
}
