/* fuzz_vecs.c -- libFuzzer target for the .fvecs/.bvecs/.ivecs reader (src/io): the first byte
 * picks the flavour, the rest is the file; see fuzz_io_common.h. */
#include "fuzz_io_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
    if (len < 1) return 0;
    static const fkm_io_format f[3] = {FKM_FMT_FVECS, FKM_FMT_BVECS, FKM_FMT_IVECS};
    return fuzz_io_run(buf + 1, len - 1, f[buf[0] % 3], 0, FKM_F32);
}
