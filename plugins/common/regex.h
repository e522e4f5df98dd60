/* PCRE2 for the plugins that match patterns (cleanup, filter, metadata,
 * split): one place decides whether patterns are JIT-compiled. */
#ifndef TM_PLUGINS_COMMON_REGEX_H
#define TM_PLUGINS_COMMON_REGEX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* JIT-compiles re, unless the environment says TEXTMILL_PCRE2_JIT=0: valgrind
 * cannot follow JIT code and reports its reads as uninitialised (Debian's
 * PCRE2 is built without valgrind support), so CI's valgrind run sets it.
 * Without JIT (or when it fails) PCRE2 interprets the pattern, same results. */
void tm_regex_jit(pcre2_code *re);

#endif
