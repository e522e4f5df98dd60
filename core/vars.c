/* ${VAR} substitution from the environment, as in POSIX shells and
 * docker-compose: ${VAR} (an error when unset), ${VAR:-default} (default when
 * unset or empty), ${VAR:?message} (an error with that message when unset or
 * empty), and $$ for a literal dollar sign. A lone $ is kept as it is. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *tm__expand_vars(const char *s, size_t len, size_t *outlen, char **err, size_t *erroff)
{
    tm_buf b = {0};
    tm__buf_reserve(&b, len);
    size_t i = 0;
    while (i < len) {
        if (s[i] != '$') {
            tm__buf_addc(&b, s[i++]);
            continue;
        }
        if (i + 1 < len && s[i + 1] == '$') {
            tm__buf_addc(&b, '$');
            i += 2;
            continue;
        }
        if (i + 1 >= len || s[i + 1] != '{') {
            tm__buf_addc(&b, s[i++]);
            continue;
        }
        size_t start = i, j = i + 2, name0 = j;
        while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_'))
            j++;
        size_t name_len = j - name0;
        if (name_len == 0 || isdigit((unsigned char)s[name0])) {
            *err = tm__xstrdup("bad variable reference: expected ${NAME}, ${NAME:-default} or "
                               "${NAME:?message}");
            goto fail;
        }
        char *name = tm__xstrndup(s + name0, name_len);
        const char *val = getenv(name);
        char op = 0;
        const char *word = NULL;
        size_t word_len = 0;
        if (j + 1 < len && s[j] == ':' && (s[j + 1] == '-' || s[j + 1] == '?')) {
            op = s[j + 1];
            size_t w0 = j + 2, depth = 0;
            j = w0;
            while (j < len && !(s[j] == '}' && depth == 0)) {
                if (s[j] == '{')
                    depth++;
                else if (s[j] == '}')
                    depth--;
                j++;
            }
            word = s + w0;
            word_len = j - w0;
        }
        if (j >= len || s[j] != '}') {
            *err = tm__xasprintf("unterminated variable reference ${%s", name);
            free(name);
            goto fail;
        }
        bool unset = !val || (op && !*val);
        if (unset && op == '-') {
            size_t sub_len = 0, sub_off = 0;
            char *sub = tm__expand_vars(word, word_len, &sub_len, err, &sub_off);
            if (!sub) {
                free(name);
                *erroff = (size_t)(word - s) + sub_off;
                tm__buf_free(&b);
                return NULL;
            }
            tm__buf_add(&b, sub, sub_len);
            free(sub);
        } else if (unset && op == '?') {
            *err = word_len ? tm__xasprintf("%s: %.*s", name, (int)word_len, word)
                            : tm__xasprintf("%s: required variable is not set", name);
            free(name);
            goto fail;
        } else if (unset) {
            *err = tm__xasprintf("undefined variable ${%s} (set it, or write ${%s:-default})",
                                 name, name);
            free(name);
            goto fail;
        } else {
            tm__buf_adds(&b, val);
        }
        free(name);
        i = j + 1;
        continue;
    fail:
        *erroff = start;
        tm__buf_free(&b);
        return NULL;
    }
    *outlen = b.len;
    if (!b.data)
        return tm__xstrdup("");
    return b.data;
}
