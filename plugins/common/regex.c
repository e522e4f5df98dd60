#include "regex.h"

#include <stdlib.h>
#include <string.h>

void tm_regex_jit(pcre2_code *re)
{
    const char *v = getenv("TEXTMILL_PCRE2_JIT");
    if (!v || strcmp(v, "0") != 0)
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
}
