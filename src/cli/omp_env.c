/* OpenMP wait-policy default for the priorft binary. libgomp's default lets a thread that
 * reaches a barrier spin for up to ~300k iterations before sleeping; on a machine shared with
 * other jobs (more runnable threads than cores) the spinning thread burns the time slice its
 * partner needs, and the many short parallel regions of a training step (norms, element-wise
 * ops, attention blocks) pay it at every barrier. Measured on the 2-core dev machine under a
 * load of ~10, 135M model at 1 x 512: 62 tokens/s per CPU-second by default, 98 with
 * OMP_WAIT_POLICY=PASSIVE (wall 9-11 vs 17 tokens/s). libgomp reads its environment when it is
 * loaded, before main, so the default is applied by re-executing the binary once. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"

void omp_env_defaults(char **argv)
{
    /* The user's own choice wins; the variable we set also stops a second re-exec. */
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("PRIORFT_NO_OMP_ENV"))
        return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with libgomp's defaults. */
    unsetenv("OMP_WAIT_POLICY");
}
