"""The streaming control model of schedule.model_schedule compiled to one Python function:
the same rules, cycle for cycle, at a fraction of the cost (issue 13: a folded MobileNet-v1
at II ~200,000 steps ~28 layers over 6 frames).

`schedule.LayerSchedule` and `schedule.AccumulateSchedule` keep their state in attributes and
are stepped through method calls; here every stage's state is a local variable of a function
written for this chain (its geometry inlined as constants, a non-folded layer's engine pipe an
integer bit mask), which CPython runs several times faster.  On top of that, a cycle in which
nothing moves (no pixel taken, no window issued or finished, no pixel left, no pipe bit set)
leaves the state unchanged but for the held windows' step counters and the refusal counts, so
the cycles that follow are identical until a step counter reaches S - 1: they are skipped in
one jump, their refusals and steps added (a counter that counted in the frozen cycle counts
on; one already at S - 1 waits for its downstream).  The results are exactly those of the reference
(`model_schedule(..., exact=True)`); tests/chisel/stream/test_compiled_schedule.py compares
them on many designs.

Stages are read duck-typed: a LayerSchedule (attributes h, w, rows, kh1, ...) or an
AccumulateSchedule (`layer.pixels`); schedule.py decides which chains come here."""

_LAYER_READY = "r{i} = wr{i} - fr{i} - first{i} < {rows}"
_POOL_READY = "r{i} = not (cnt{i} == {last} and ov{i})"

# one layer's clock edge; `o`/`r`/`rn`: its offer, its ready, its downstream's ready
_LAYER_TAKE = """\
t{i} = o{i} and r{i}
f{i} = o{i} and not r{i}
if f{i}:
    ref{i} += 1
if t{i} and start{i} < 0:
    start{i} = cycle
"""
_WINDOW_READY = """\
ahead = wr{i} - fr{i} - nr{i}
wready = ahead > 0 or (ahead == 0 and wc{i} > nc{i})
adv = not ov{i} or {rn}
left = ov{i} and {rn}
if t{i}:
    wc{i} += 1
    if wc{i} == {w}:
        wc{i} = 0
        wr{i} += 1
"""
_MOVE_WINDOW = """\
if issue:
    if lf{i} == {last_left}:
        lf{i} = {left0}
        if tp{i} == {last_top}:
            tp{i} = {top0}
            fr{i} += {h}
        else:
            tp{i} += {sh}
    else:
        lf{i} += {sw}
    nr{i} = min(max(tp{i} + {kh1}, 0), {h1})
    nc{i} = min(max(lf{i} + {kw1}, 0), {w1})
    first{i} = min(max(tp{i}, 0), {h1})
"""
_PARALLEL = """\
issue = wready and adv
""" + _MOVE_WINDOW + """\
if adv:
    if pipe{i} or ov{i}:
        moved = True
    ov{i} = (pipe{i} >> {top_bit}) & 1 == 1
    pipe{i} = ((pipe{i} << 1) | issue) & {mask}
if t{i} or issue:
    moved = True
"""
_FOLDED = """\
finish = held{i} and sc{i} == {last_step} and adv
issue = wready and (not held{i} or finish)
""" + _MOVE_WINDOW + """\
if issue or finish:
    sc{i} = 0
    inc{i} = False
elif held{i} and sc{i} < {last_step}:
    sc{i} += 1
    inc{i} = True
else:
    inc{i} = False
held{i} = issue or (held{i} and not finish)
ov{i} = finish or (ov{i} and not {rn})
if t{i} or issue or finish or left:
    moved = True
"""
_POOL = """\
t{i} = o{i} and r{i}
f{i} = o{i} and not r{i}
if f{i}:
    ref{i} += 1
if t{i} and start{i} < 0:
    start{i} = cycle
left = ov{i} and {rn}
if t{i} and cnt{i} == {last}:
    cnt{i} = 0
    ov{i} = True
else:
    if t{i}:
        cnt{i} += 1
    if {rn}:
        ov{i} = False
if t{i} or left:
    moved = True
"""
_DONE = """\
if left and done{i} < 0:
    count{i} += 1
    if count{i} == {per_frame}:
        done{i} = cycle
"""


def _is_pool(stage):
    return not hasattr(stage, "rows")


def _constants(stage):
    """The format fields of one stage's code."""
    if _is_pool(stage):
        return {"last": stage.layer.pixels - 1}
    return {"rows": stage.rows, "w": stage.w, "h": stage.h, "w1": stage.w - 1, "h1": stage.h - 1,
            "kh1": stage.kh1, "kw1": stage.kw1, "sh": stage.sh, "sw": stage.sw, "top0": stage.top0,
            "left0": stage.left0, "last_top": stage.last_top, "last_left": stage.last_left,
            "last_step": stage.steps - 1, "top_bit": len(stage.pipe) - 1, "mask": (1 << len(stage.pipe)) - 1}


def _initial_state(i, stage):
    """Assignments of one stage's state variables (from the model's initial attributes)."""
    common = [f"ov{i} = False", f"ref{i} = 0", f"start{i} = -1", f"done{i} = -1", f"count{i} = 0"]
    if _is_pool(stage):
        return common + [f"cnt{i} = 0"]
    return common + [f"wr{i} = 0", f"wc{i} = 0", f"fr{i} = 0", f"tp{i} = {stage.top0}", f"lf{i} = {stage.left0}",
                     f"nr{i} = {stage.need_row}", f"nc{i} = {stage.need_col}", f"first{i} = {stage.first_row}",
                     f"pipe{i} = 0", f"held{i} = False", f"sc{i} = 0", f"inc{i} = False"]


def _indent(text, spaces):
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def compiled_source(stages, per_frame):
    """Source of `run(n_frames, pixels, out_pixels, limit)` for this chain of stage models,
    returning (frames, cycle, refusals, layer_start, layer_done) as model_schedule's loop does."""
    n = len(stages)
    body = ["def run(n_frames, pixels, out_pixels, limit):", "    total = n_frames * pixels",
            "    sent = collected = cycle = 0", "    frames = []"]
    for i, stage in enumerate(stages):
        body += ["    " + line for line in _initial_state(i, stage)]
    loop = ["moved = False"]
    for i, stage in enumerate(stages):  # readies come from registers only (the collector is always ready)
        loop.append((_POOL_READY if _is_pool(stage) else _LAYER_READY).format(i=i, **_constants(stage)))
    loop.append("o0 = sent < total")
    loop += [f"o{i} = ov{i - 1}" for i in range(1, n)]
    loop.append(f"last_offer = ov{n - 1}")
    for i, stage in enumerate(stages):
        fields = dict(_constants(stage), i=i, rn=f"r{i + 1}" if i + 1 < n else "True", per_frame=per_frame[i])
        if _is_pool(stage):
            code = _POOL
        else:
            code = _LAYER_TAKE + _WINDOW_READY + (_FOLDED if stage.folded else _PARALLEL)
        loop.append((code + _DONE).format(**fields))
    loop.append("""\
if o0 and r0:
    sent += 1
if last_offer:
    collected += 1
    if collected == out_pixels:
        frames.append(cycle + 1)
        collected = 0
cycle += 1""")
    folded = [i for i, stage in enumerate(stages) if not _is_pool(stage) and stage.folded]
    skip = ["if not moved:", "    jump = limit - cycle"]  # nothing moved: identical cycles until a step ends
    for i in folded:
        last_step = stages[i].steps - 1
        skip += [f"    if inc{i} and {last_step} - sc{i} < jump:", f"        jump = {last_step} - sc{i}"]
    for i in folded:
        skip += [f"    if inc{i}:", f"        sc{i} += jump"]
    skip += [f"    if f{i}:\n        ref{i} += jump" for i in range(n)]
    skip.append("    cycle += jump")
    loop += skip
    body.append("    while len(frames) < n_frames and cycle < limit:")
    body += [_indent(block, 8).rstrip("\n") for block in loop]
    refs, starts, dones = (", ".join(f"{name}{i}" for i in range(n)) for name in ("ref", "start", "done"))
    body.append(f"    return frames, cycle, [{refs}], [{starts}], [{dones}]")
    return "\n".join(body) + "\n"


def run_compiled(stages, per_frame, n_frames, pixels, out_pixels, limit):
    """Run the compiled model: (frames, cycles, refusals, layer_start, layer_done), a start or
    done of -1 where it never happened."""
    namespace = {}
    exec(compile(compiled_source(stages, per_frame), "<compiled stream schedule>", "exec"), namespace)
    return namespace["run"](n_frames, pixels, out_pixels, limit)
