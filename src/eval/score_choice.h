/* Multiple-choice scoring for `priorft eval`: which option letter a generation chose. */
#ifndef PRIORFT_EVAL_SCORE_CHOICE_H
#define PRIORFT_EVAL_SCORE_CHOICE_H

/* The option a generation chose, as an index (0 = A), or -1 when it names none. Tried in
 * order: the last \boxed{C}; the last "answer is (C)" / "Answer: C" / "correct option is C";
 * "C." / "(C)" / "C)" / "C:" / a lone "C" at the start; else the one option whose text
 * appears in the generation as whole words (ignoring case; when several do, those contained in
 * another matching option's text are dropped). Letters must be within the n_options given;
 * with n_options == 0 (options unknown) letters A to J are accepted and text matching is
 * skipped. */
int choice_extract(const char *text, const char *const *options, int n_options);

/* The index of a gold answer given as a letter ("C", "(C)", "c") or as an option's text;
 * -1 when it is neither. */
int choice_gold_index(const char *gold, const char *const *options, int n_options);

#endif
