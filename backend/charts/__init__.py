"""Charts drawn to PNG on the server, without a browser: what scheduled reports send to e-mail and
robots (docs/reports.md, "Chart images"). `spec` is the data to draw, `draw` turns a spec into PNG
bytes (pure: no database, no clock), `fonts` finds the typefaces on this machine."""
