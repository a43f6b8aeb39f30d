/* Drawing the p(target) histograms of probe and compare, with the CLI's reporting: a missing
 * gnuplot is a warning naming the package, never an error. */
#include <stdio.h>

#include "cli/cli.h"
#include "probe/probe.h"
#include "util/error.h"
#include "util/plot.h"

void cli_plot_p_histograms(const char *command, const char *png, const char *title,
                           const PlotSeries *series, int n_series)
{
    int rc = plot_histograms(png, title, "p of the target token", "fraction of response tokens",
                             series, n_series, PROBE_HIST_BINS, 0.0, 1.0);
    if (rc == PLOT_NO_GNUPLOT)
        fprintf(stderr, "priorft %s: warning: gnuplot not found, no plot drawn (install the "
                        "Debian package gnuplot-nox)\n", command);
    else if (rc != 0)
        fprintf(stderr, "priorft %s: warning: %s\n", command, pf_error());
    else
        fprintf(stderr, "priorft %s: histogram plot %s\n", command, png);
}
