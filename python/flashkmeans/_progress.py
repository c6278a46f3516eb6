"""Progress of long fits on stderr: a tqdm bar, or plain lines (docs/python.md, "Progress").

A front end asks `reporter(progress, verbose, ...)` for a Reporter, or None when no progress is
wanted (progress=False, or progress=None with verbose=0: the default). None means no per-iteration
callback is installed that would not be installed anyway, so a quiet GPU fit keeps its
device-resident loop and a quiet CPU fit does the same work as before. A Reporter is the fit's
on_iter callback: it never changes the fit, it only reads the iteration's statistics.

Forms: "bar" (tqdm, when importable) redraws one line in place; "lines" writes one line now and
then -- at most one per MIN_INTERVAL seconds, and further apart as the fit goes on (a tenth of
the time elapsed, at most MAX_INTERVAL apart): about ten lines per decade of run time, so a log
file is not flooded -- plus a last line saying how the fit ended. progress=True picks the bar
when tqdm is importable and stderr is a terminal (or a Jupyter kernel's), else lines.
"""
import sys
import time

import numpy as np

from ._compat import warn

MIN_INTERVAL = 1.0   # seconds between two plain lines, at least ...
MAX_INTERVAL = 60.0  # ... and at most
_ENDS = {"max_iter": "max_iter reached", "max_steps": "max_iter reached"}
_CHOICES = "None, True, False, 'bar' or 'lines'"


def _tqdm():
    """tqdm's class, or None when tqdm is not installed (or hidden: sys.modules['tqdm'] = None)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def _interactive(stream):
    """A terminal, or a Jupyter kernel (whose output area renders tqdm's carriage returns)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")  # a notebook's OutStream


def mode(progress, verbose=0):
    """progress (None | bool | 'bar' | 'lines') and verbose -> 'bar', 'lines' or None (off).
    None follows verbose: on from verbose=1."""
    if progress is None:
        if not verbose:
            return None
        progress = True
    if isinstance(progress, (bool, np.bool_)):
        if not progress:
            return None
        progress = "auto"
    elif not isinstance(progress, str) or progress not in ("bar", "lines"):
        raise ValueError("progress must be %s, got %r" % (_CHOICES, progress))
    if progress == "lines":
        return "lines"
    if _tqdm() is None:
        if progress == "bar":
            warn("progress='bar' needs tqdm (pip install tqdm, or the python3-tqdm package): "
                 "plain progress lines instead", RuntimeWarning)
        return "lines"
    if progress == "bar" or _interactive(sys.stderr):
        return "bar"
    return "lines"


def check(progress):
    """Validate a progress value without resolving it (for fits that report nothing)."""
    if progress is None or isinstance(progress, (bool, np.bool_)) or progress in ("bar", "lines"):
        return
    raise ValueError("progress must be %s, got %r" % (_CHOICES, progress))


def reporter(progress, verbose, what, total, runs=1, run_name="run", unit="iteration"):
    """A Reporter for `what` (the front end's name), or None when progress is off. total: the
    iterations (steps) of one run; runs: how many runs the library reports one after the other
    (restarts, batch problems), each counting its iterations from 0."""
    m = mode(progress, verbose)
    return None if m is None else Reporter(m, what, total, runs, run_name, unit)


def _num(x):
    return "%.6g" % x


class Reporter:
    """on_iter(it, max_iter, stats) callback that shows the fit's progress on stderr."""

    def __init__(self, form, what, total, runs=1, run_name="run", unit="iteration"):
        ok = isinstance(total, (int, np.integer)) and total > 0  # the library checks max_iter
        self.what, self.total, self.runs = what, int(total) if ok else 0, max(int(runs), 1)
        self.run_name, self.unit = run_name, unit
        self.run, self.last_it, self.count = 0, -1, 0
        self.closed = False
        self.postfix = {}
        self.t0 = time.perf_counter()
        self.next_line = MIN_INTERVAL
        self.stream = sys.stderr  # looked up now: redirections made before the fit are honoured
        self.bar = None
        if form == "bar":
            self.bar = _tqdm()(total=self.total * self.runs, desc=self._desc(), unit="it",
                               file=self.stream, leave=True, dynamic_ncols=True)

    def _desc(self):
        if self.runs > 1:
            return "%s %s %d/%d" % (self.what, self.run_name, self.run + 1, self.runs)
        return self.what

    def __call__(self, it, max_iter, stats):
        """The library's progress callback: `it` counts from 0 in each run."""
        self.update(it, {"inertia": stats["inertia"], "changed": stats.get("changed")})

    def update(self, it, postfix):
        if it <= self.last_it and self.run + 1 < self.runs:
            self.run += 1
            if self.bar is not None:
                self.bar.set_description_str(self._desc(), refresh=False)
        self.last_it = it
        self.count += 1
        self.postfix = {k: v for k, v in postfix.items() if v is not None}
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(", "), refresh=False)
            pos = min(self.run * self.total + it + 1, self.bar.total)
            if pos > self.bar.n:
                self.bar.update(pos - self.bar.n)
            return
        t = time.perf_counter() - self.t0
        if t >= self.next_line:
            self.next_line = t + max(MIN_INTERVAL, min(MAX_INTERVAL, t / 10))
            where = "%s %d/%d, " % (self.run_name, self.run + 1, self.runs) if self.runs > 1 else ""
            self._line("%s%s %d/%d, %s, %.1f s" % (where, self.unit, it + 1, self.total,
                                                    self._postfix(", "), t))

    def skip_to(self, iterations):
        """A fit that reported no iterations (the device API) ran `iterations` in all."""
        self.count = int(iterations)
        if self.bar is not None and self.bar.n < min(self.count, self.bar.total):
            self.bar.update(min(self.count, self.bar.total) - self.bar.n)

    def _postfix(self, sep):
        return sep.join("%s %s" % (k, _num(v) if isinstance(v, float) else v)
                        for k, v in self.postfix.items())

    def _line(self, text):
        self.stream.write("[flashkmeans] %s: %s\n" % (self.what, text))
        self.stream.flush()

    def write(self, text):
        """print(text) on stdout without breaking the bar (scikit-learn's verbose lines)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text)

    def close(self, end, **final):
        """Finish the report: end says how the fit ended ("converged", "max_iter", an exception's
        name); final adds figures to the last line (inertia=...). Only the first call counts."""
        if self.closed:
            return
        self.closed = True
        self.postfix = {k: v for k, v in final.items() if v is not None}
        end = _ENDS.get(end, end)
        t = time.perf_counter() - self.t0
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join([end] + [self._postfix(", ")] * bool(self.postfix)),
                                     refresh=False)
            self.bar.close()  # draws the bar a last time, with that postfix
            return
        runs = "%d %ss, " % (self.runs, self.run_name) if self.runs > 1 else ""
        self._line("%s%d %s%s in %.3g s (%s)%s" % (runs, self.count, self.unit, "s" * (self.count != 1),
                                                  t, end, ", " + self._postfix(", ") if self.postfix else ""))


class closing:
    """with closing(rep) as rep: ... -- closes the report on an exception (end: its class
    name); on success the body calls rep.close itself with the fit's outcome. rep may be None."""

    def __init__(self, rep):
        self.rep = rep

    def __enter__(self):
        return self.rep

    def __exit__(self, typ, exc, tb):
        if self.rep is not None and typ is not None:
            try:
                self.rep.close(typ.__name__)
            except Exception:  # never hide the fit's own exception
                pass
        return False
