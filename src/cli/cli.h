/* The subcommands of the priorft binary: one file each, cmd_<name>.c, nothing but argument
 * parsing, calls into the library and printing. Each returns the process exit status. */
#ifndef PRIORFT_CLI_CLI_H
#define PRIORFT_CLI_CLI_H

typedef struct Command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} Command;

/* Prints "priorft: error: <message>" to stderr and returns 1 (the exit status to use). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a whole decimal number or float option value; on failure prints an error naming the
 * option and returns -1. */
int cli_parse_int(const char *option, const char *text, long min, long max, long *out);
int cli_parse_float(const char *option, const char *text, double min, double max, double *out);

/* Called first in main: unless OMP_WAIT_POLICY, GOMP_SPINCOUNT or PRIORFT_NO_OMP_ENV is set,
 * sets OMP_WAIT_POLICY=PASSIVE and re-executes the binary so libgomp picks it up (threads
 * that spin at barriers starve each other on a shared machine; see omp_env.c). */
void omp_env_defaults(char **argv);

/* Draws the probe/compare p histograms (PROBE_HIST_BINS bins over [0, 1]) into png and
 * reports on stderr; a missing gnuplot or a failed plot is a warning. */
struct PlotSeries;
void cli_plot_p_histograms(const char *command, const char *png, const char *title,
                           const struct PlotSeries *series, int n_series);

#endif
