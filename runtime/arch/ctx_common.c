/* corio — what every context-switch implementation shares.
 *
 * The assembly files and portable.c call corio__ctx_entry_returned when a
 * context's entry function returns (it must not). It lives here, in the
 * arch layer, rather than in fiber.c: fiber.c calls the context switch,
 * and the context switch must not call back up into fiber.c, so each
 * file's dependencies point one way (fiber.c -> arch/). */
#include "ctx.h"

#include <stdlib.h>
#include <unistd.h>

_Noreturn void corio__ctx_entry_returned(void)
{
    static const char msg[] = "corio: fiber entry function returned\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    abort();
}
