/* Levelled logging and a monotonic clock (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int current_level = -1;

static LogLevel level_from_env(void)
{
    const char *env = getenv("PRIORFT_LOG");
    if (!env) return LOG_WARN;
    if (strcmp(env, "debug") == 0) return LOG_DEBUG;
    if (strcmp(env, "info") == 0) return LOG_INFO;
    if (strcmp(env, "error") == 0) return LOG_ERROR;
    return LOG_WARN;
}

void log_set_level(LogLevel level) { current_level = (int)level; }

LogLevel log_get_level(void)
{
    if (current_level < 0) current_level = (int)level_from_env();
    return (LogLevel)current_level;
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level < log_get_level()) return;

    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "priorft: %s: ", names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
