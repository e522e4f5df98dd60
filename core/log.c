/* Diagnostics on stderr, one line each, serialized so that lines from worker
 * threads never interleave:
 *   text (default):  "textmill: LEVEL: WHO: message" (LEVEL left out for info
 *                    on a terminal), with an ISO 8601 UTC timestamp in front
 *                    when stderr is not a terminal (cron, log files), where a
 *                    line is read long after it was written;
 *   json:            {"time":"...","level":"error","who":"...","msg":"..."}. */
#include "internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tm__log_level = TM_LOG_INFO;
int tm__log_json = 0;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tmv;
    gmtime_r(&ts.tv_sec, &tmv);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tmv);
    snprintf(out + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

void tm__vlog(int level, const char *who, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > tm__log_level)
        return;
    if (level < TM_LOG_ERROR)
        level = TM_LOG_ERROR;
    if (level > TM_LOG_DEBUG)
        level = TM_LOG_DEBUG;
    char when[40];
    timestamp(when, sizeof when);
    pthread_mutex_lock(&log_lock);
    if (tm__progress_active)
        fputs("\r\x1b[K", stderr); /* clear the progress line first */
    if (tm__log_json) {
        char *msg = tm__xvasprintf(fmt, ap);
        tm_buf b = {0};
        tm__buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\"", when, names[level]);
        if (who) {
            tm__buf_adds(&b, ",\"who\":");
            tm__buf_json_str(&b, who, strlen(who));
        }
        tm__buf_adds(&b, ",\"msg\":");
        tm__buf_json_str(&b, msg, strlen(msg));
        tm__buf_adds(&b, "}\n");
        fwrite(b.data, 1, b.len, stderr);
        tm__buf_free(&b);
        free(msg);
    } else {
        /* off a terminal (cron, a log file) every line says when and how bad */
        bool logfile = !isatty(2);
        if (logfile)
            fprintf(stderr, "%s ", when);
        fputs("textmill: ", stderr);
        if (level != TM_LOG_INFO || logfile)
            fprintf(stderr, "%s: ", names[level]);
        if (who)
            fprintf(stderr, "%s: ", who);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&log_lock);
}

void tm__log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tm__vlog(level, who, fmt, ap);
    va_end(ap);
}
