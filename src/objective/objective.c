/* Objective names, f(p), c(p) and loss normalisation (see objective.h). */
#include "objective/objective.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

const char OBJECTIVE_FORMS[] =
    "nll | p | power:ALPHA | dft, optionally followed by @top:Q or @bottom:Q "
    "(ALPHA > 0, Q in [0, 1]); aliases: original, logp, GeneralFamily-ALPHA, OnlyTopP-Q, "
    "OnlyBottomP-Q, OnlyTopLogP-Q, OnlyBottomLogP-Q";

/* Parses a whole plain decimal number (no spaces, hex, inf or nan). */
static int parse_number(const char *text, double *out)
{
    if (!(isdigit((unsigned char)text[0]) || text[0] == '.')) return -1;
    for (const char *s = text; *s; s++) {
        if (!(isdigit((unsigned char)*s) || *s == '.' || *s == 'e' || *s == 'E' || *s == '-' ||
              *s == '+'))
            return -1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int fail_name(const char *name, const char *why)
{
    return pf_fail("objective '%s': %s; valid forms: %s", name, why, OBJECTIVE_FORMS);
}

static int parse_alpha(const char *name, const char *text, Objective *out)
{
    double a;
    if (parse_number(text, &a) != 0) return fail_name(name, "ALPHA is not a number");
    if (!(a > 0.0)) return fail_name(name, "ALPHA must be > 0");
    out->kind = OBJECTIVE_POWER;
    out->alpha = a;
    return 0;
}

static int parse_threshold(const char *name, const char *text, ThresholdSide side,
                           Objective *out)
{
    double q;
    if (parse_number(text, &q) != 0) return fail_name(name, "threshold Q is not a number");
    if (!(q >= 0.0 && q <= 1.0)) return fail_name(name, "threshold Q must be in [0, 1]");
    out->side = side;
    out->q = q;
    return 0;
}

/* Parses a base ("nll", "p", "power:A", "dft"); `base` is NUL-terminated. */
static int parse_base(const char *name, const char *base, Objective *out)
{
    if (strcmp(base, "nll") == 0) {
        out->kind = OBJECTIVE_NLL;
    } else if (strcmp(base, "p") == 0) {
        out->kind = OBJECTIVE_POWER;
        out->alpha = 1.0;
    } else if (strcmp(base, "dft") == 0) {
        out->kind = OBJECTIVE_DFT;
    } else if (strncmp(base, "power:", 6) == 0) {
        return parse_alpha(name, base + 6, out);
    } else {
        return fail_name(name, "unknown objective");
    }
    return 0;
}

static int parse_alias(const char *name, Objective *out, bool *matched)
{
    static const struct {
        const char *prefix;
        ObjectiveKind kind;
        ThresholdSide side;
    } thresholded[] = {
        {"OnlyTopP-", OBJECTIVE_POWER, THRESHOLD_TOP},
        {"OnlyBottomP-", OBJECTIVE_POWER, THRESHOLD_BOTTOM},
        {"OnlyTopLogP-", OBJECTIVE_NLL, THRESHOLD_TOP},
        {"OnlyBottomLogP-", OBJECTIVE_NLL, THRESHOLD_BOTTOM},
    };
    *matched = true;
    if (strcmp(name, "original") == 0 || strcmp(name, "logp") == 0) {
        out->kind = OBJECTIVE_NLL;
        return 0;
    }
    if (strncmp(name, "GeneralFamily-", 14) == 0) return parse_alpha(name, name + 14, out);
    for (size_t i = 0; i < sizeof thresholded / sizeof thresholded[0]; i++) {
        size_t len = strlen(thresholded[i].prefix);
        if (strncmp(name, thresholded[i].prefix, len) == 0) {
            out->kind = thresholded[i].kind;
            out->alpha = thresholded[i].kind == OBJECTIVE_POWER ? 1.0 : 0.0;
            return parse_threshold(name, name + len, thresholded[i].side, out);
        }
    }
    *matched = false;
    return 0;
}

int objective_parse(const char *name, Objective *out)
{
    memset(out, 0, sizeof *out);
    if (!name || !name[0]) return pf_fail("objective name is empty; valid forms: %s",
                                          OBJECTIVE_FORMS);
    bool matched = false;
    if (parse_alias(name, out, &matched) != 0) return -1;
    if (matched) return 0;

    char base[64];
    const char *at = strchr(name, '@');
    size_t base_len = at ? (size_t)(at - name) : strlen(name);
    if (base_len >= sizeof base) return fail_name(name, "name too long");
    memcpy(base, name, base_len);
    base[base_len] = '\0';
    if (parse_base(name, base, out) != 0) return -1;
    if (!at) return 0;

    if (strncmp(at + 1, "top:", 4) == 0) return parse_threshold(name, at + 5, THRESHOLD_TOP, out);
    if (strncmp(at + 1, "bottom:", 7) == 0)
        return parse_threshold(name, at + 8, THRESHOLD_BOTTOM, out);
    return fail_name(name, "after '@' expected top:Q or bottom:Q");
}

/* Shortest %g form of v that reads back as exactly v. */
static void format_number(double v, char *buf, size_t n)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

int objective_name(const Objective *obj, char *buf, size_t n)
{
    char base[48], q[32];
    switch (obj->kind) {
    case OBJECTIVE_NLL:
        snprintf(base, sizeof base, "nll");
        break;
    case OBJECTIVE_DFT:
        snprintf(base, sizeof base, "dft");
        break;
    default:
        if (obj->alpha == 1.0) {
            snprintf(base, sizeof base, "p");
        } else {
            char a[32];
            format_number(obj->alpha, a, sizeof a);
            snprintf(base, sizeof base, "power:%s", a);
        }
    }
    if (obj->side == THRESHOLD_NONE) return snprintf(buf, n, "%s", base);
    format_number(obj->q, q, sizeof q);
    return snprintf(buf, n, "%s@%s:%s", base, obj->side == THRESHOLD_TOP ? "top" : "bottom", q);
}

bool objective_keeps(const Objective *obj, double log_p)
{
    if (obj->side == THRESHOLD_NONE) return true;
    double p = exp(log_p);
    return obj->side == THRESHOLD_TOP ? p >= obj->q : p <= obj->q;
}

double objective_f(const Objective *obj, double log_p)
{
    switch (obj->kind) {
    case OBJECTIVE_NLL:
        return -log_p;
    case OBJECTIVE_DFT:
        return log_p == -INFINITY ? 0.0 : -exp(log_p) * log_p;
    default:
        return -expm1(obj->alpha * log_p) / obj->alpha;
    }
}

double objective_c(const Objective *obj, double log_p)
{
    switch (obj->kind) {
    case OBJECTIVE_NLL:
        return 1.0;
    case OBJECTIVE_DFT:
        return exp(log_p);
    default:
        return exp(obj->alpha * log_p);
    }
}

int loss_norm_parse(const char *name, LossNorm *out)
{
    static const char *names[] = {"kept", "reference", "response"};
    for (int i = 0; i < 3; i++) {
        if (name && strcmp(name, names[i]) == 0) {
            *out = (LossNorm)i;
            return 0;
        }
    }
    return pf_fail("loss normalisation '%s': expected kept, reference or response",
                   name ? name : "");
}

const char *loss_norm_name(LossNorm mode)
{
    switch (mode) {
    case LOSS_NORM_REFERENCE:
        return "reference";
    case LOSS_NORM_RESPONSE:
        return "response";
    default:
        return "kept";
    }
}

double loss_norm_scale(LossNorm mode, long kept_global, long response_global, long kept_micro,
                       int n_micro)
{
    double denom;
    switch (mode) {
    case LOSS_NORM_REFERENCE:
        denom = (double)kept_micro * (double)n_micro;
        break;
    case LOSS_NORM_RESPONSE:
        denom = (double)response_global;
        break;
    default:
        denom = (double)kept_global;
    }
    return denom > 0.0 ? 1.0 / denom : 0.0;
}
