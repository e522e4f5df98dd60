#!/usr/bin/env bash
# The SDK as a plugin author meets it: install textmill under a fresh prefix,
# scaffold a plugin with `textmill new-plugin`, build it out of tree against
# the installed SDK through pkg-config, and run its own test, which runs the
# plugin inside a pipeline with the installed textmill (finding its built-in
# plugins with no environment variable).
#   sdk.sh BUILD_DIR CMAKE
set -eu
BUILD=$1 CMAKE=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
"$CMAKE" --install "$BUILD" --prefix "$prefix" >/dev/null
tm="$prefix/bin/textmill"
[ -x "$tm" ] || { echo "not installed: $tm"; exit 1; }
"$tm" plugins | grep -q '^stage   filter' || { echo "installed textmill does not find its plugins"; exit 1; }
"$tm" new-plugin wordcount "$work" >/dev/null
# a second scaffold at the same place is refused, not overwritten
if "$tm" new-plugin wordcount "$work" 2>/dev/null; then echo "overwrote an existing plugin"; exit 1; fi
pc=$(find "$prefix" -name textmill.pc | head -1)
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
"$CMAKE" -S "$work/wordcount" -B "$work/wordcount/build" -DCMAKE_C_FLAGS=-Werror >/dev/null
"$CMAKE" --build "$work/wordcount/build" >/dev/null
ctest --test-dir "$work/wordcount/build" --output-on-failure
TEXTMILL_PLUGIN_PATH="$work/wordcount/build" "$tm" plugins wordcount | grep -q min_words
echo "ok - scaffolded plugin builds against the installed SDK and runs in a pipeline"
