/* Plots through gnuplot (Debian package gnuplot-nox) run as a subprocess on a generated script
 * and data file, so that no plotting library is linked. Used by probe and compare for p
 * histograms. */
#ifndef PRIORFT_UTIL_PLOT_H
#define PRIORFT_UTIL_PLOT_H

/* plot_histograms returns this (not an error) when no gnuplot is on PATH. */
#define PLOT_NO_GNUPLOT 1

/* One histogram: values (n_bins), e.g. the fraction of tokens per bin. */
typedef struct PlotSeries {
    const char *label;
    const double *values;
} PlotSeries;

/* The full path of the gnuplot executable on PATH (malloc'ed), or NULL. */
char *plot_find_gnuplot(void);

/* Draws n_series histograms over n_bins equal bins of [lo, hi], overlaid with transparent
 * fills, into png_path (PNG). Beside it stay the data (png_path + ".dat") and the script
 * (png_path + ".gp"), so the plot can be restyled by hand. Returns 0, PLOT_NO_GNUPLOT when
 * gnuplot is missing (nothing drawn; the data and script are still written), or -1 with a
 * message (gnuplot's first error line when it fails). */
int plot_histograms(const char *png_path, const char *title, const char *xlabel,
                    const char *ylabel, const PlotSeries *series, int n_series, int n_bins,
                    double lo, double hi);

#endif
