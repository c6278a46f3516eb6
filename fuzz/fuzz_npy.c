/* fuzz_npy.c -- libFuzzer target for the npy reader (src/io); see fuzz_io_common.h. */
#include "fuzz_io_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
    return fuzz_io_run(buf, len, FKM_FMT_NPY, 0, FKM_F32);
}
