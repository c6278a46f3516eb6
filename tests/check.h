/* check.h -- minimal test harness: CHECK counts failures, TEST_MAIN prints "N passed, N failed". */
#ifndef FKM_CHECK_H
#define FKM_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_pass, check_fail;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) { check_pass++; }                                       \
        else {                                                            \
            check_fail++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
        }                                                                 \
    } while (0)
/* Skip the whole test program (ctest shows SKIPPED) with a reason. */
#define SKIP_ALL(...) do { printf("SKIPPED: "); printf(__VA_ARGS__); printf("\n"); exit(77); } while (0)
static inline int check_report(void) {
    printf("%d passed, %d failed\n", check_pass, check_fail);
    return check_fail ? 1 : 0;
}
#endif
