/* gnuplot as a subprocess (see plot.h): write data and script, fork + exec, wait, report. */
#include "util/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"

char *plot_find_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path) return NULL;
    char *copy = xstrdup(path), *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%s/gnuplot", *dir ? dir : ".");
        if (access(candidate, X_OK) == 0) {
            found = xstrdup(candidate);
            break;
        }
    }
    free(copy);
    return found;
}

/* Appends s as a gnuplot single-quoted string ('' stands for one quote; no escapes). */
static void quoted(StrBuf *b, const char *s)
{
    strbuf_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'') strbuf_puts(b, "''");
        else if (*s == '\n') strbuf_puts(b, " ");
        else strbuf_append(b, s, 1);
    }
    strbuf_puts(b, "'");
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return pf_fail("%s: cannot write: %s", path, strerror(errno));
    fputs(text, f);
    return fclose(f) == 0 ? 0 : pf_fail("%s: cannot write: %s", path, strerror(errno));
}

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

static void script_text(StrBuf *b, const char *png, const char *dat, const char *title,
                        const char *xlabel, const char *ylabel, const PlotSeries *series,
                        int n_series, int n_bins, double lo, double hi)
{
    strbuf_puts(b, "# written by priorft; run with: gnuplot THIS_FILE\n"
                   "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                   "  set terminal pngcairo size 900,540 noenhanced font 'sans,11'\n"
                   "} else {\n  set terminal png size 900,540 noenhanced\n}\nset output ");
    quoted(b, png);
    strbuf_puts(b, "\nset title ");
    quoted(b, title);
    strbuf_puts(b, "\nset xlabel ");
    quoted(b, xlabel);
    strbuf_puts(b, "\nset ylabel ");
    quoted(b, ylabel);
    double width = (hi - lo) / n_bins;
    strbuf_printf(b, "\nset xrange [%g:%g]\nset yrange [0:*]\nset xtics %g\nset grid ytics\n"
                     "set boxwidth %g absolute\nset style fill transparent solid 0.45 border\n"
                     "set key top center\nplot ",
                  lo, hi, (hi - lo) / 10, width);
    for (int s = 0; s < n_series; s++) {
        if (s) strbuf_puts(b, ", \\\n     ");
        quoted(b, dat);
        strbuf_printf(b, " using 1:%d with boxes lc rgb '%s' title ", s + 2,
                      COLORS[s % 4]);
        quoted(b, series[s].label ? series[s].label : "");
    }
    strbuf_puts(b, "\n");
}

/* Runs `gnuplot script` with its output in log_path; -1 with gnuplot's first line on error. */
static int run_gnuplot(const char *gnuplot, const char *script, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0) return pf_fail("gnuplot: cannot start: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(gnuplot, "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return pf_fail("gnuplot: wait failed: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        unlink(log_path);
        return 0;
    }
    char line[512] = "";
    FILE *f = fopen(log_path, "r");
    if (f) {
        /* gnuplot echoes the failing script line first; keep the first line naming an error. */
        char buf[512];
        while (fgets(buf, sizeof buf, f))
            if (strstr(buf, "rror") || !line[0]) snprintf(line, sizeof line, "%s", buf);
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    return pf_fail("%s: gnuplot failed (%s); its output is in %s", script,
                   line[0] ? line : "no output", log_path);
}

int plot_histograms(const char *png_path, const char *title, const char *xlabel,
                    const char *ylabel, const PlotSeries *series, int n_series, int n_bins,
                    double lo, double hi)
{
    if (n_series <= 0 || n_bins <= 0 || !(hi > lo))
        return pf_fail("%s: nothing to plot (%d series, %d bins)", png_path, n_series, n_bins);
    size_t n = strlen(png_path) + 8;
    char *dat = xmalloc(n), *gp = xmalloc(n), *log = xmalloc(n);
    snprintf(dat, n, "%s.dat", png_path);
    snprintf(gp, n, "%s.gp", png_path);
    snprintf(log, n, "%s.log", png_path);

    StrBuf text = {0};
    strbuf_puts(&text, "# bin_center");
    for (int s = 0; s < n_series; s++) strbuf_printf(&text, " series%d", s + 1);
    strbuf_puts(&text, "\n");
    for (int k = 0; k < n_bins; k++) {
        strbuf_printf(&text, "%.6g", lo + (hi - lo) * (k + 0.5) / n_bins);
        for (int s = 0; s < n_series; s++) strbuf_printf(&text, " %.8g", series[s].values[k]);
        strbuf_puts(&text, "\n");
    }
    int rc = write_text(dat, text.data);
    strbuf_free(&text);
    if (rc == 0) {
        script_text(&text, png_path, dat, title, xlabel, ylabel, series, n_series, n_bins, lo,
                    hi);
        rc = write_text(gp, text.data);
        strbuf_free(&text);
    }
    if (rc == 0) {
        char *gnuplot = plot_find_gnuplot();
        rc = gnuplot ? run_gnuplot(gnuplot, gp, log) : PLOT_NO_GNUPLOT;
        free(gnuplot);
    }
    free(dat);
    free(gp);
    free(log);
    return rc;
}
