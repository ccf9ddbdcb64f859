/* How much a second thread adds on this machine, with no memory traffic: each of `nt`
 * OpenMP threads runs the same vectorised math (W2's expression) over its own 4 KB block,
 * which stays in L1. Two physical cores take the same time for two threads as for one; two
 * hardware threads of one core, or a host that gives the second vCPU less time, take longer.
 * run.py compiles it with gcc and calls probe() beside W2's two-thread samples. */
#include <math.h>
#include <omp.h>

static double block(int reps, double seed)
{
    double x[512], y[512], acc = 0;
    for (int i = 0; i < 512; ++i) x[i] = seed + i * 1e-3;
    for (int r = 0; r < reps; ++r) {
        #pragma omp simd
        for (int i = 0; i < 512; ++i)
            y[i] = exp(-x[i] * x[i]) * sin(x[i]) + log1p(fabs(x[i])) * 0.5;
        acc += y[r & 511];
        x[r & 511] += 1e-12;              /* the next pass is not the same work */
    }
    return acc;
}

/* seconds for `nt` threads to each run `reps` passes */
double probe(int nt, int reps)
{
    volatile double sink = 0;
    double t = omp_get_wtime();
    #pragma omp parallel num_threads(nt)
    {
        double v = block(reps, omp_get_thread_num() + 1.0);
        #pragma omp atomic
        sink += v;
    }
    return omp_get_wtime() - t;
}
