/* Diagnostics on stderr: "textmill: WHO: message", one line each, serialized
 * so that lines from worker threads never interleave. */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>

int tm__log_level = TM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void tm__vlog(int level, const char *who, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > tm__log_level)
        return;
    if (level < TM_LOG_ERROR)
        level = TM_LOG_ERROR;
    if (level > TM_LOG_DEBUG)
        level = TM_LOG_DEBUG;
    pthread_mutex_lock(&log_lock);
    if (tm__progress_active)
        fputs("\r\x1b[K", stderr); /* clear the progress line first */
    fputs("textmill: ", stderr);
    if (level != TM_LOG_INFO)
        fprintf(stderr, "%s: ", names[level]);
    if (who)
        fprintf(stderr, "%s: ", who);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}

void tm__log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tm__vlog(level, who, fmt, ap);
    va_end(ap);
}
