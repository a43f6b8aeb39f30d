/* The probability-based objective family: parsing a name into an Objective, the per-token loss
 * f(p) and the gradient weight c(p) = -f'(p) p that the fused LM head multiplies into
 * (softmax - onehot), and the loss normalisation modes.
 *
 * Grammar (shell-friendly: no spaces, quotes or shell metacharacters needed):
 *
 *     objective := base [ "@" side ":" Q ]
 *     base      := "nll" | "p" | "power:" ALPHA | "dft"
 *     side      := "top" | "bottom"
 *
 *   nll            f = -log p                 c = 1
 *   p              f = 1 - p   ("-p")         c = p
 *   power:ALPHA    f = (1 - p^ALPHA) / ALPHA  c = p^ALPHA    ALPHA > 0 and finite;
 *                  power:1 is p, ALPHA -> 0 approaches nll, power:10 is "-p^10"
 *   dft            f = -sg(p) log p           c = p          (value p*(-log p), p constant)
 *   BASE@top:Q     BASE on tokens with p >= Q, others masked (no loss, no gradient)
 *   BASE@bottom:Q  BASE on tokens with p <= Q                               Q in [0, 1]
 *
 * Aliases, the names of the reference implementation (GaotangLi/Beyond-Log-Likelihood,
 * main_verl/trainer/fsdp_sft_trainer.py and its README's objective table):
 *   original          = nll   (its cross-entropy path)
 *   logp              = nll   (its -log_softmax(...)[y] path: the same loss computed in fp32)
 *   GeneralFamily-A   = power:A
 *   OnlyTopP-Q        = p@top:Q        OnlyBottomP-Q     = p@bottom:Q
 *   OnlyTopLogP-Q     = nll@top:Q      OnlyBottomLogP-Q  = nll@bottom:Q
 * The reference asserts 0 <= Q < 1 for OnlyTopP and 0 < Q <= 1 for OnlyBottomP; here every
 * threshold accepts the closed range [0, 1] (the end points are harmless: top:0 keeps all).
 * Names are case-sensitive. Masked tokens are not "kept": see LossNorm for the denominator. */
#ifndef PRIORFT_OBJECTIVE_OBJECTIVE_H
#define PRIORFT_OBJECTIVE_OBJECTIVE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    OBJECTIVE_NLL = 0,
    OBJECTIVE_POWER,   /* uses alpha; "p" is POWER with alpha 1 */
    OBJECTIVE_DFT,
} ObjectiveKind;

typedef enum {
    THRESHOLD_NONE = 0,
    THRESHOLD_TOP,     /* keep p >= q */
    THRESHOLD_BOTTOM,  /* keep p <= q */
} ThresholdSide;

typedef struct Objective {
    ObjectiveKind kind;
    double alpha;          /* POWER only: > 0, finite */
    ThresholdSide side;
    double q;              /* threshold in [0, 1] when side != THRESHOLD_NONE */
} Objective;

/* The valid forms, one per line, for error and help messages. */
extern const char OBJECTIVE_FORMS[];

/* Parses `name` (grammar above, aliases included) into *out. On failure returns -1 with a
 * message that quotes the name and lists the valid forms; *out is then unspecified. */
int objective_parse(const char *name, Objective *out);

/* Writes the canonical name ("nll", "p", "power:10", "dft", "nll@top:0.2") into buf (size n,
 * always NUL-terminated when n > 0); parsing it gives back an equal Objective (numbers are
 * printed with enough digits to round-trip). Returns the length snprintf would write. */
int objective_name(const Objective *obj, char *buf, size_t n);

/* Whether a token whose target has probability exp(log_p) passes the threshold (always true
 * without one). */
bool objective_keeps(const Objective *obj, double log_p);

/* Loss f of one kept token from its log-probability log_p <= 0 (the threshold is NOT applied
 * here). Stable for p -> 0 and p -> 1: power uses -expm1(alpha log p) / alpha, so tiny alpha
 * gives -log p to first order. Returns +inf for nll at log_p = -inf. */
double objective_f(const Objective *obj, double log_p);

/* Gradient weight c = -f'(p) p of one kept token from log_p (threshold NOT applied):
 * 1 for nll, exp(alpha log_p) for power, p for dft. Always in [0, 1]. */
double objective_c(const Objective *obj, double log_p);

/* How the summed loss and gradient of a step are divided (the trainer chooses):
 *  LOSS_NORM_KEPT      default: divide by the kept-token count of the whole global batch
 *                      (all micro batches, all ranks).
 *  LOSS_NORM_REFERENCE the reference implementation: each micro batch divides by its own kept
 *                      count, then the micro batches are averaged (divide by their number).
 *  LOSS_NORM_RESPONSE  divide by the number of response tokens of the global batch (masked
 *                      tokens still count in the denominator).
 * Kept = response tokens that pass the threshold; without a threshold kept == response. */
typedef enum {
    LOSS_NORM_KEPT = 0,
    LOSS_NORM_REFERENCE,
    LOSS_NORM_RESPONSE,
} LossNorm;

/* Parses "kept", "reference" or "response"; -1 with a message listing them otherwise. */
int loss_norm_parse(const char *name, LossNorm *out);
const char *loss_norm_name(LossNorm mode);

/* The grad_scale for lm_head_forward_backward (and the factor on the summed loss) in `mode`:
 *  KEPT: 1 / kept_global;  RESPONSE: 1 / response_global;
 *  REFERENCE: 1 / (kept_micro * n_micro)  for one micro batch with kept_micro kept tokens.
 * A zero denominator gives 0 (no tokens, no gradient), as the reference's "+ 1e-8" does. */
double loss_norm_scale(LossNorm mode, long kept_global, long response_global, long kept_micro,
                       int n_micro);

#endif
