/* names.c -- the public API's names: version, dtype sizes, and the text of each enum. */
#include "../internal.h"

const char *fkm_version(void) { return "0.1.0"; }

size_t fkm_dtype_size(fkm_dtype t) {
    switch (t) {
    case FKM_F32: return 4;
    case FKM_F64: return 8;
    case FKM_F16: return 2;
    case FKM_BF16: return 2;
    case FKM_U8: return 1;
    }
    return 0;
}

const char *fkm_device_str(fkm_device d) {
    switch (d) {
    case FKM_DEVICE_AUTO: return "auto";
    case FKM_DEVICE_CPU: return "cpu";
    case FKM_DEVICE_CUDA: return "cuda";
    }
    return "unknown";
}

const char *fkm_precision_str(fkm_precision p) {
    switch (p) {
    case FKM_PREC_AUTO: return "auto";
    case FKM_PREC_EXACT: return "exact";
    case FKM_PREC_TF32: return "tf32";
    case FKM_PREC_FP16: return "fp16";
    case FKM_PREC_BF16: return "bf16";
    }
    return "unknown";
}

const char *fkm_stop_reason_str(fkm_stop_reason r) {
    switch (r) {
    case FKM_STOPPED_CONVERGED: return "converged";
    case FKM_STOPPED_MAX_ITER: return "max_iter";
    case FKM_STOPPED_CANCELLED: return "cancelled";
    }
    return "unknown";
}

const char *fkm_metric_str(fkm_metric m) {
    switch (m) {
    case FKM_METRIC_L2: return "l2";
    case FKM_METRIC_COSINE: return "cosine";
    case FKM_METRIC_IP: return "ip";
    }
    return "unknown";
}
