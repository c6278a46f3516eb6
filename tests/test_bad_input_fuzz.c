/* test_bad_input_fuzz.c -- replays the fuzz inputs through the libFuzzer targets' own code
 * (fuzz/fuzz_*.c compiled in here with renamed entry points), in the normal and the ASan build:
 *   fuzz/regressions/<target>/  every crash or violated invariant ever found: must pass;
 *   fuzz/corpus/<target>/       the seed corpus: must pass;
 *   fuzz/known/<target>/        found and not fixed yet (bugs owned elsewhere): reported, not
 *                                counted; one that passes is announced so it can move to regressions/.
 * Needs FKM_SOURCE_DIR (set by tests/CMakeLists.txt); exits 77 without it. */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fuzz_failures;
static char fuzz_first[256];
#define FUZZ_FAIL(msg)                                                                              \
    (fuzz_failures++ == 0 ? snprintf(fuzz_first, sizeof fuzz_first, "%s (%s:%d)", msg, __FILE__, __LINE__) \
                          : 0)

#define LLVMFuzzerTestOneInput fuzz_one_api
#include "../fuzz/fuzz_api.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_npy
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_vecs
#include "../fuzz/fuzz_vecs.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_idx
#include "../fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_raw
#include "../fuzz/fuzz_raw.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);
static const struct { const char *name; fuzz_fn fn; } targets[] = {
    {"api", fuzz_one_api}, {"npy", fuzz_one_npy}, {"vecs", fuzz_one_vecs}, {"idx", fuzz_one_idx}, {"raw", fuzz_one_raw},
};

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

/* Replay every file of dir through fn. kind: 0 must pass, 1 known open bug. Returns the count. */
static int replay(const char *dir, const char *target, fuzz_fn fn, int kind) {
    DIR *dp = opendir(dir);
    if (!dp) return 0;
    struct dirent *e;
    int count = 0;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md") || !strcmp(e->d_name, "SIGNATURES")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *buf = slurp(path, &len);
        if (!buf) continue;
        /* libFuzzer hands over an exact-size heap copy: do the same so ASan sees overreads */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        free(buf);
        fuzz_failures = 0;
        fn(exact, len);
        free(exact);
        count++;
        if (kind == 0) {
            CHECK(fuzz_failures == 0, "fuzz_%s %s: %s", target, path, fuzz_first);
        } else if (fuzz_failures) {
            printf("  known open bug, fuzz_%s %s: %s\n", target, e->d_name, fuzz_first);
        } else {
            printf("  NOW PASSES, move it to fuzz/regressions/%s/: %s\n", target, e->d_name);
        }
    }
    closedir(dp);
    return count;
}

int main(void) {
    const char *src = getenv("FKM_SOURCE_DIR");
    if (!src) SKIP_ALL("FKM_SOURCE_DIR is not set (run through ctest)");
    int total = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[4096];
        int n[3];
        const char *sub[3] = {"regressions", "corpus", "known"};
        for (int s = 0; s < 3; s++) {
            snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", src, sub[s], targets[t].name);
            n[s] = replay(dir, targets[t].name, targets[t].fn, s == 2);
        }
        printf("fuzz_%s: %d regressions, %d seeds, %d known open\n", targets[t].name, n[0], n[1], n[2]);
        total += n[0] + n[1];
    }
    CHECK(total > 0, "no fuzz inputs found under %s/fuzz", src);
    return check_report();
}
