/* plot.c -- `fit --plot FILE.svg`: one self-contained SVG (no script, no external file) that a
 * browser shows: the convergence (inertia and labels changed per iteration), the cluster sizes
 * largest first, for d >= 2 a PCA projection of a sample of the points coloured by cluster with
 * the centroids, and for image data (28 x 28 such as Fashion-MNIST, or any 3-D input of square
 * images) the centroids drawn as images. Elements carry their values (data-* attributes and
 * <title> tooltips), so that a test can read the plot back and a person can hover over it. Written
 * like every other output: staged, committed with the others (cli/fit.c). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = 960, PW = 455, PH = 300, TOP = 56, GAP = 24 };
enum { SAMPLE_MAX = 2000 };                  /* points drawn in the projection */
enum { SAMPLE_FLOATS = 4 << 20 };            /* the sample's size cap (16 MB of float32) */
enum { IMG_MAX = 50, IMG_COLS = 10, IMG_CELL = 90, IMG_PX = 84 }; /* centroid images */

/* A plot area: its rectangle in the SVG and the data ranges it maps. */
typedef struct {
    double x, y, w, h;
    double x0, x1, y0, y1;
} area;

static double ax(const area *a, double v) { return a->x + (a->x1 > a->x0 ? (v - a->x0) / (a->x1 - a->x0) : 0.5) * a->w; }
static double ay(const area *a, double v) { return a->y + a->h - (a->y1 > a->y0 ? (v - a->y0) / (a->y1 - a->y0) : 0.5) * a->h; }

/* tab10 for the first ten clusters, then hues a golden angle apart. */
static void colour(int64_t c, char out[8]) {
    static const char *const tab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    if (c < 10) {
        memcpy(out, tab10[c], 8);
        return;
    }
    const double h = fmod((double)c * 137.50776, 360.0) / 60.0, s = 0.65, l = 0.5 - 0.1 * (double)(c % 3) / 2;
    const double ch = (1 - fabs(2 * l - 1)) * s, xx = ch * (1 - fabs(fmod(h, 2.0) - 1)), m = l - ch / 2;
    double rgb[3] = {0, 0, 0};
    const int seg = (int)h % 6;
    const int ci[6] = {0, 1, 1, 2, 2, 0}, xi[6] = {1, 0, 2, 1, 0, 2};
    rgb[ci[seg]] = ch;
    rgb[xi[seg]] = xx;
    snprintf(out, 8, "#%02x%02x%02x", (int)lround((rgb[0] + m) * 255), (int)lround((rgb[1] + m) * 255),
             (int)lround((rgb[2] + m) * 255));
}

static void text_escaped(cli_str *s, const char *v) {
    for (; *v; v++) {
        if (*v == '&') cli_str_add(s, "&amp;");
        else if (*v == '<') cli_str_add(s, "&lt;");
        else if (*v == '>') cli_str_add(s, "&gt;");
        else if (*v == '"') cli_str_add(s, "&quot;");
        else if ((unsigned char)*v < 0x20) cli_str_add(s, "?"); /* not allowed in XML 1.0 */
        else cli_str_add(s, "%c", *v);
    }
}

/* [lo, hi] widened by 5% (by 1 around a single value), for a range to plot. */
static void pad(double *lo, double *hi, int from_zero) {
    if (from_zero && *lo > 0) *lo = 0;
    const double span = *hi - *lo;
    if (!(span > 0)) {
        const double m = fabs(*hi) > 0 ? fabs(*hi) * 0.05 : 1;
        *lo -= m;
        *hi += m;
        return;
    }
    if (!from_zero || *lo < 0) *lo -= span * 0.05;
    *hi += span * 0.05;
}

/* A panel: frame, title, ticks (about 5 a side at 1, 2, 5 x 10^e) and axis names; returns the
 * plot area inside it. xticks 0: none on x (the caller labels it). */
static area panel(cli_str *s, double x, double y, const char *id, const char *title, const char *xname,
                  const char *yname, double x0, double x1, double y0, double y1, int xticks) {
    area a = {x + 70, y + 30, PW - 84, PH - 70, x0, x1, y0, y1};
    cli_str_add(s, "<g id=\"%s\">\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", id, x + 4,
                y + 16, title);
    cli_str_add(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" stroke=\"#999\"/>\n", a.x,
                a.y, a.w, a.h);
    for (int axis = 0; axis < 2; axis++) {
        const double lo = axis ? y0 : x0, hi = axis ? y1 : x1;
        if ((axis == 0 && !xticks) || !(hi > lo)) continue;
        const double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
        const double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
        for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
            const double v = fabs(t) < step * 1e-9 ? 0 : t;
            if (axis)
                cli_str_add(s, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n",
                            a.x, a.x + a.w, ay(&a, v), ay(&a, v), a.x - 4, ay(&a, v) + 4, v);
            else
                cli_str_add(s, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>\n",
                            ax(&a, v), ax(&a, v), a.y, a.y + a.h, ax(&a, v), a.y + a.h + 14, v);
        }
    }
    cli_str_add(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", a.x + a.w / 2, a.y + a.h + 30, xname);
    cli_str_add(s, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", x + 12,
                a.y + a.h / 2, yname);
    return a;
}

/* Inertia (which 0) or labels changed (1) per iteration: a line with a dot per iteration. */
static void convergence(cli_str *s, const fkm_result *r, int which, double x, double y) {
    const int it = r->iterations;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < it; i++) {
        const double v = which ? (double)r->stats[i].changed : r->stats[i].inertia;
        if (isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    if (!(hi >= lo)) lo = hi = 0;
    pad(&lo, &hi, which);
    const char *id = which ? "convergence-changed" : "convergence-inertia";
    area a = panel(s, x, y, id, which ? "Labels changed per iteration" : "Inertia per iteration", "iteration",
                   which ? "points that changed cluster" : "inertia", 1, it > 1 ? it : 2, lo, hi, 1);
    if (it == 0) {
        cli_str_add(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no iteration ran</text>\n</g>\n",
                    a.x + a.w / 2, a.y + a.h / 2);
        return;
    }
    const char *col = which ? "#d62728" : "#1f77b4";
    cli_str_add(s, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col);
    for (int i = 0; i < it; i++) {
        const double v = which ? (double)r->stats[i].changed : r->stats[i].inertia;
        if (isfinite(v)) cli_str_add(s, "%s%.2f,%.2f", i ? " " : "", ax(&a, i + 1), ay(&a, v));
    }
    cli_str_add(s, "\"/>\n");
    for (int i = 0; i < it; i++) {
        const fkm_iter_stats *t = &r->stats[i];
        const double v = which ? (double)t->changed : t->inertia;
        if (!isfinite(v)) continue;
        cli_str_add(s, "<circle class=\"point\" data-iteration=\"%d\" data-value=\"%.9g\" cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" "
                       "fill=\"%s\"><title>iteration %d: inertia %.9g, %lld changed, %lld empty</title></circle>\n",
                    i + 1, v, ax(&a, i + 1), ay(&a, v), col, i + 1, t->inertia, (long long)t->changed, (long long)t->empty);
    }
    cli_str_add(s, "</g>\n");
}

static const int64_t *sort_keys;
static int by_size_desc(const void *x, const void *y) {
    const int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    if (sort_keys[a] != sort_keys[b]) return sort_keys[a] > sort_keys[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Bars of the cluster sizes, largest first; order[] receives the clusters in that order. */
static void sizes(cli_str *s, const fkm_result *r, const int64_t *size, int64_t *order, double x, double y) {
    int64_t empty = 0;
    for (int64_t c = 0; c < r->k; c++) {
        order[c] = c;
        empty += size[c] == 0;
    }
    sort_keys = size;
    qsort(order, (size_t)r->k, sizeof *order, by_size_desc);
    double lo = 0, hi = (double)size[order[0]];
    pad(&lo, &hi, 1);
    char title[96];
    snprintf(title, sizeof title, "Cluster sizes, largest first (k = %lld, %lld empty)", (long long)r->k, (long long)empty);
    area a = panel(s, x, y, "sizes", title, "clusters by size", "points", 0, (double)r->k, lo, hi, r->k > 1);
    const double bw = a.w / (double)r->k;
    for (int64_t j = 0; j < r->k; j++) {
        const int64_t c = order[j];
        char col[8];
        colour(c, col);
        cli_str_add(s, "<rect class=\"bar\" data-cluster=\"%lld\" data-size=\"%lld\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                       "height=\"%.2f\" fill=\"%s\"><title>cluster %lld: %lld points</title></rect>\n",
                    (long long)c, (long long)size[c], a.x + bw * (double)j + (bw > 3 ? bw * 0.1 : 0), ay(&a, (double)size[c]),
                    bw > 3 ? bw * 0.8 : bw, ay(&a, 0) - ay(&a, (double)size[c]), col, (long long)c, (long long)size[c]);
    }
    cli_str_add(s, "</g>\n");
}

/* v = the unit eigenvector of X^T X (X: m x d, centred) of the largest eigenvalue, orthogonal to
 * `other` when given: power iteration in float64, deterministic start. Returns |X v|^2. */
static double component(const float *X, int64_t m, int64_t d, const double *other, double *v, double *u) {
    double lambda = 0;
    for (int64_t j = 0; j < d; j++) v[j] = 1.0 + 0.37 * (double)(j % 11) - 0.21 * (double)(j % 5);
    for (int iter = 0; iter < 100; iter++) {
        if (other) {
            double dot = 0;
            for (int64_t j = 0; j < d; j++) dot += v[j] * other[j];
            for (int64_t j = 0; j < d; j++) v[j] -= dot * other[j];
        }
        double norm = 0;
        for (int64_t j = 0; j < d; j++) norm += v[j] * v[j];
        norm = sqrt(norm);
        if (!(norm > 0)) break;
        for (int64_t j = 0; j < d; j++) v[j] /= norm;
        if (iter > 0 && fabs(norm - lambda) <= 1e-7 * norm) break; /* plenty for a picture */
        lambda = norm;
        for (int64_t i = 0; i < m; i++) {
            double dot = 0;
            for (int64_t j = 0; j < d; j++) dot += (double)X[i * d + j] * v[j];
            u[i] = dot;
        }
        memset(v, 0, (size_t)d * sizeof *v);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) v[j] += u[i] * (double)X[i * d + j];
    }
    double e = 0;
    for (int64_t i = 0; i < m; i++) {
        double dot = 0;
        for (int64_t j = 0; j < d; j++) dot += (double)X[i * d + j] * v[j];
        e += dot * dot;
    }
    return e;
}

/* The projection on the two principal axes of a strided sample of the rows held. */
static int projection(cli_str *s, const cli_plot_in *in, const int64_t *size, double x, double y) {
    const fkm_io_array *xa = in->x;
    const fkm_result *r = in->r;
    const int64_t n = xa->n, d = xa->d;
    int64_t m = SAMPLE_FLOATS / d;
    m = m < SAMPLE_MAX ? (m < 1 ? 1 : m) : SAMPLE_MAX;
    m = m < n ? m : n;
    int64_t *rows = (int64_t *)calloc((size_t)m, sizeof *rows);
    float *X = (float *)malloc((size_t)(m * d) * sizeof *X);
    double *mean = (double *)calloc((size_t)d * 3, sizeof *mean), *u = (double *)malloc((size_t)m * sizeof *u);
    double *pa = (double *)malloc((size_t)(m + r->k) * 2 * sizeof *pa);
    int rc = 0;
    if (!rows || !X || !mean || !u || !pa) {
        rc = cli_error(CLI_FAIL, "out of memory drawing the plot's projection");
        goto done;
    }
    for (int64_t i = 0; i < m; i++) rows[i] = i * n / m; /* evenly spread, the same every run */
    fkm_io_rows_to_f32(xa, rows, m, X);
    for (int64_t i = 0; i < m; i++) {
        float *row = X + i * d;
        if (in->p->metric == FKM_METRIC_COSINE) { /* what the fit clustered: unit rows */
            double nn = 0;
            for (int64_t j = 0; j < d; j++) nn += (double)row[j] * row[j];
            if (nn > 0)
                for (int64_t j = 0; j < d; j++) row[j] = (float)(row[j] / sqrt(nn));
        }
        for (int64_t j = 0; j < d; j++) mean[j] += row[j];
    }
    double total = 0;
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)m;
    for (int64_t i = 0; i < m * d; i++) {
        X[i] = (float)(X[i] - mean[i % d]);
        total += (double)X[i] * X[i];
    }
    double *v1 = mean + d, *v2 = mean + 2 * d;
    const double e1 = component(X, m, d, NULL, v1, u), e2 = component(X, m, d, v1, v2, u);
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < m + r->k; i++) { /* the sample's points, then the centroids */
        for (int ax2 = 0; ax2 < 2; ax2++) {
            const double *v = ax2 ? v2 : v1;
            double dot = 0;
            for (int64_t j = 0; j < d; j++)
                dot += ((i < m ? (double)X[i * d + j] : (double)r->centroids[(i - m) * d + j] - mean[j])) * v[j];
            pa[2 * i + ax2] = dot;
            if (isfinite(dot)) {
                lo[ax2] = dot < lo[ax2] ? dot : lo[ax2];
                hi[ax2] = dot > hi[ax2] ? dot : hi[ax2];
            }
        }
    }
    for (int ax2 = 0; ax2 < 2; ax2++) {
        if (!(hi[ax2] >= lo[ax2])) lo[ax2] = hi[ax2] = 0;
        pad(&lo[ax2], &hi[ax2], 0);
    }
    char xn[64], yn[64], title[96];
    snprintf(xn, sizeof xn, "PC1 (%.0f%% of the variance)", total > 0 ? 100 * e1 / total : 0.0);
    snprintf(yn, sizeof yn, "PC2 (%.0f%%)", total > 0 ? 100 * e2 / total : 0.0);
    snprintf(title, sizeof title, "PCA projection: %lld of %lld points%s, centroids ringed", (long long)m, (long long)n,
             xa->total_n > n ? " (rank 0's)" : "");
    area a = panel(s, x, y, "projection", title, xn, yn, lo[0], hi[0], lo[1], hi[1], 1);
    /* the sample by cluster: one group (one fill) per cluster */
    int64_t *byc = (int64_t *)malloc((size_t)m * sizeof *byc), *start = (int64_t *)calloc((size_t)r->k + 1, sizeof *start);
    if (!byc || !start) {
        free(byc);
        free(start);
        rc = cli_error(CLI_FAIL, "out of memory drawing the plot's projection");
        goto done;
    }
    for (int64_t i = 0; i < m; i++) start[r->labels[xa->row0 + rows[i]] + 1]++;
    for (int64_t c = 0; c < r->k; c++) start[c + 1] += start[c];
    for (int64_t i = 0; i < m; i++) byc[start[r->labels[xa->row0 + rows[i]]]++] = i;
    for (int64_t c = r->k; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    for (int64_t c = 0; c < r->k; c++) {
        if (start[c + 1] == start[c]) continue;
        char col[8];
        colour(c, col);
        cli_str_add(s, "<g class=\"points\" data-cluster=\"%lld\" fill=\"%s\" fill-opacity=\"0.6\">\n", (long long)c, col);
        for (int64_t t = start[c]; t < start[c + 1]; t++) {
            const int64_t i = byc[t];
            if (isfinite(pa[2 * i]) && isfinite(pa[2 * i + 1]))
                cli_str_add(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.8\"/>\n", ax(&a, pa[2 * i]), ay(&a, pa[2 * i + 1]));
        }
        cli_str_add(s, "</g>\n");
    }
    free(byc);
    free(start);
    for (int64_t c = 0; c < r->k; c++) {
        const double *q = pa + 2 * (m + c);
        char col[8];
        colour(c, col);
        if (isfinite(q[0]) && isfinite(q[1]))
            cli_str_add(s, "<circle class=\"centroid\" data-cluster=\"%lld\" cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" "
                           "stroke=\"black\" stroke-width=\"2\"><title>centroid %lld: %lld points</title></circle>\n",
                        (long long)c, ax(&a, q[0]), ay(&a, q[1]), col, (long long)c, (long long)size[c]);
    }
    cli_str_add(s, "</g>\n");
done:
    free(rows);
    free(X);
    free(mean);
    free(u);
    free(pa);
    return rc;
}

/* Side of the square images the rows are, or 0: 28 x 28 = 784 features (MNIST, Fashion-MNIST)
 * or a 3-D input file (n x h x w, as IDX images) with a square d. */
static int64_t image_side(const fkm_io_array *x) {
    int64_t side = (int64_t)llround(sqrt((double)x->d));
    if (side * side != x->d || side < 2) return 0;
    return x->d == 784 || x->ndim == 3 ? side : 0;
}

/* The centroids as grey images (black = the smallest value of any centroid shown, white = the
 * largest), largest cluster first, IMG_MAX at most; returns the height used. */
static double images(cli_str *s, const fkm_result *r, const int64_t *size, const int64_t *order, int64_t side, double y) {
    const int64_t shown = r->k < IMG_MAX ? r->k : IMG_MAX, d = r->d;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t j = 0; j < shown; j++)
        for (int64_t t = 0; t < d; t++) {
            const float v = r->centroids[order[j] * d + t];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    const double scale = (double)IMG_PX / (double)side;
    const int64_t rows = (shown + IMG_COLS - 1) / IMG_COLS;
    cli_str_add(s, "<g id=\"centroid-images\" data-lo=\"%.9g\" data-hi=\"%.9g\">\n<text x=\"10\" y=\"%.1f\" font-size=\"14\" "
                   "font-weight=\"bold\">Centroids as %lldx%lld images, largest cluster first%s</text>\n",
                lo, hi, y + 16, (long long)side, (long long)side, shown < r->k ? " (the 50 largest)" : "");
    for (int64_t j = 0; j < shown; j++) {
        const int64_t c = order[j];
        const double gx = 10 + (double)(j % IMG_COLS) * (IMG_CELL + 4), gy = y + 26 + (double)(j / IMG_COLS) * (IMG_CELL + 22);
        char col[8];
        colour(c, col);
        cli_str_add(s, "<g class=\"centroid-image\" data-cluster=\"%lld\" data-size=\"%lld\">\n<title>cluster %lld: %lld "
                       "points</title>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"black\" stroke=\"%s\" "
                       "stroke-width=\"3\"/>\n<g transform=\"translate(%.1f,%.1f) scale(%.4g)\" shape-rendering=\"crispEdges\">\n",
                    (long long)c, (long long)size[c], (long long)c, (long long)size[c], gx, gy, IMG_PX, IMG_PX, col, gx, gy,
                    scale);
        for (int64_t t = 0; t < d; t++) {
            const float v = r->centroids[c * d + t];
            const int g = hi > lo ? (int)lround(255.0 * (v - lo) / (hi - lo)) : 0;
            if (g > 0) /* black is the background */
                cli_str_add(s, "<rect x=\"%lld\" y=\"%lld\" width=\"1\" height=\"1\" fill=\"#%02x%02x%02x\"/>\n",
                            (long long)(t % side), (long long)(t / side), g, g, g);
        }
        cli_str_add(s, "</g>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">#%lld: %lld</text>\n</g>\n",
                    gx + IMG_PX / 2.0, gy + IMG_PX + 14, (long long)c, (long long)size[c]);
    }
    cli_str_add(s, "</g>\n");
    return 26 + (double)rows * (IMG_CELL + 22);
}

int cli_plot_svg(cli_str *s, const cli_plot_in *in) {
    const fkm_result *r = in->r;
    int64_t *size = (int64_t *)calloc((size_t)r->k * 2, sizeof *size);
    if (!size) return cli_error(CLI_FAIL, "out of memory drawing the plot");
    int64_t *order = size + r->k;
    for (int64_t i = 0; i < r->n; i++) size[r->labels[i]]++;
    const int64_t side = image_side(in->x);
    const int64_t shown = r->k < IMG_MAX ? r->k : IMG_MAX;
    const double img_h = side ? 26 + (double)((shown + IMG_COLS - 1) / IMG_COLS) * (IMG_CELL + 22) + GAP : 0;
    const double h = TOP + 2 * (PH + GAP) + img_h;
    cli_str_add(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
                   "width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" font-family=\"sans-serif\" font-size=\"11\" "
                   "data-n=\"%lld\" data-d=\"%lld\" data-k=\"%lld\" data-iterations=\"%d\">\n",
                W, h, W, h, (long long)r->n, (long long)r->d, (long long)r->k, r->iterations);
    cli_str_add(s, "<title>flashkmeans fit of ");
    text_escaped(s, in->input);
    cli_str_add(s, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" "
                   "font-size=\"16\" font-weight=\"bold\">flashkmeans fit: ");
    text_escaped(s, in->input);
    cli_str_add(s, "</text>\n<text x=\"10\" y=\"42\" font-size=\"12\">%lld points x %lld features, k = %lld, metric %s, "
                   "%s (%s): %d iterations (%s), inertia %.9g</text>\n",
                (long long)r->n, (long long)r->d, (long long)r->k, fkm_metric_str(in->p->metric), fkm_device_str(r->device),
                fkm_precision_str(r->precision), r->iterations, fkm_stop_reason_str(r->stop_reason), r->inertia);
    convergence(s, r, 0, 10, TOP);
    convergence(s, r, 1, 10 + PW + 30, TOP);
    sizes(s, r, size, order, 10, TOP + PH + GAP);
    int rc = 0;
    if (r->d >= 2 && in->x->n > 0) {
        rc = projection(s, in, size, 10 + PW + 30, TOP + PH + GAP);
    } else {
        cli_str_add(s, "<text id=\"no-projection\" x=\"%d\" y=\"%d\">d = %lld: no projection to draw</text>\n",
                    10 + PW + 60, TOP + PH + GAP + PH / 2, (long long)r->d);
    }
    if (rc == 0 && side) images(s, r, size, order, side, TOP + 2 * (PH + GAP));
    cli_str_add(s, "</svg>\n");
    free(size);
    if (rc == 0 && s->oom) rc = cli_error(CLI_FAIL, "out of memory drawing the plot");
    return rc;
}
