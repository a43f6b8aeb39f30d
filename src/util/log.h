/* Levelled logging to stderr. Quiet by default: only warnings and errors unless the level is
 * raised (the CLI's --verbose) or PRIORFT_LOG=debug|info is set. */
#ifndef PRIORFT_UTIL_LOG_H
#define PRIORFT_UTIL_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } LogLevel;

void log_set_level(LogLevel level);
LogLevel log_get_level(void);
void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Seconds since an arbitrary fixed point, monotonic, for timing. */
double time_now(void);

#endif
