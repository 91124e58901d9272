"""Benchmark of ``Posterior.suggest_runs`` against the baselines of budget-efficient scaling-law fitting (not CI).

The protocol of Li et al. (2026, "Spend Less, Fit Better"): a pool of runs whose losses are hidden until a method
picks them, a target of larger runs to predict, every method starting from the cheapest runs (about 2.5 per
coefficient: 15 for the supervised law) and spending 1%, 2%, 5% and 10% of the pool's cost on top (FLOPs, the
compute accounting's 3 F(N) D). At each level a method picks a batch worth the budget left, the law is refitted
(the defaults but 2 x 500 draws) and the target scored: R^2 and mean relative error of the predictive median, the
90% interval's coverage and median width (relative to the loss).
Methods: ``ours`` (``suggest_runs``, target: the target runs' points), ``ours-rounds`` (the same in rounds: each
round trains the head of the batch planned for the budget left that fits ``--round-share`` of the pool's cost, then
refits), ``random`` (5 seeds: random order, each run taken if it fits), ``cheapest`` (cheapest first),
``largest-first`` (the pool's largest student size first, the cheapest run of a size first: the practitioner's rule
of training as near the target as the budget allows), and ``d-optimal`` / ``v-optimal``: greedy per FLOP on the
linearisation at the current fit's posterior median (the Fisher information of the fitted runs; D: log det, V: the
target's mean variance); ``v-optimal-rounds``: V-optimal in the same rounds as ``ours-rounds``.
Tasks: the Gadre et al. (2024) runs of each training set, scored on each of 8 validation sets (24 tasks; pool: models
up to 411.6M parameters, target: 1.44B and 6.89B); the paper's simulated supervised design (71 runs, 1% noise; pool:
up to 1.2B parameters, target: larger); its distilled runs (PAPER_RECOVERY, 1% noise; pool: students up to 1.82B,
23 starting runs, target: the 2.7B-7.7B students), with the target those runs (``sim-distilled``; the supervised law
fixed at the fit of the 71 supervised runs, as the paper fits it first) or the crossover budget of the 2.7B student
(``sim-crossover``; the 71 supervised runs fitted with the pool's in every fit; scored by the absolute error of the
median log10 C* against the simulation's law, whether the 90% interval covers it, its width in decades, and the
CRPS in decades); ``--sim-seeds`` repeats a simulated task on fresh noise. Also the fit of the whole pool
(the reference R^2), and with ``--speed`` the seconds to rank 1,000 candidates against a 4,000-draw posterior.
Usage: python benchmarks/bench_design.py [--tasks rpj rpj/ptb gadre sim-distilled ...] [--methods ours random ...]
[--levels 0.01 0.02 0.05 0.1] [--random-seeds 5] [--sim-seeds 1] [--first-sim-seed 0] [--law-error 0.01]
[--out rows.csv] [--speed]

Measured on 2 cores. ``ours`` takes the best of three greedy batches, per FLOP, per sqrt(FLOP) and per run
(``greedy_batch``). Gaps are paired: a method's mean relative error less random's (mean of its seeds) on the same
task or simulation, in points of relative error, mean +- standard error over the suite.
All 24 Gadre et al. tasks (3 training sets x 8 validation sets; ``--tasks gadre --methods ours v-optimal
d-optimal cheapest``, 48 minutes; random: ``--methods random --random-seeds 5``, 60 minutes). Mean relative error
on the target at 1% / 2% / 5% / 10% (the whole pool: 2.35%):
| method | 1% | 2% | 5% | 10% |
|---|---|---|---|---|
| ours | 5.3% | 4.5% | 3.8% | 3.5% |
| random (5 seeds) | 6.2% | 6.2% | 4.3% | 3.7% |
| V-optimal | 6.2% | 4.2% | 4.0% | 3.6% |
| D-optimal | 9.6% | 4.1% | 4.2% | 3.6% |
| cheapest | 6.0% | 7.8% | 3.8% | 4.1% |
| ours less random | -0.89 +- 0.67 | -1.77 +- 0.75 | -0.51 +- 0.38 | -0.23 +- 0.36 |
| ours better / worse than random (tasks) | 14 / 10 | 17 / 7 | 19 / 5 | 14 / 10 |
| V-optimal less random | -0.05 +- 0.47 | -2.07 +- 0.61 | -0.34 +- 0.31 | -0.18 +- 0.15 |
| ours less V-optimal | -0.84 +- 0.69 | +0.30 +- 0.56 | -0.17 +- 0.46 | -0.05 +- 0.34 |
| ours better / tied / worse than V-optimal | 7 / 9 / 8 | 8 / 7 / 9 | 14 / 0 / 10 | 14 / 0 / 10 |
| ours better / tied / worse than D-optimal | 15 / 7 / 2 | 10 / 1 / 13 | 16 / 0 / 8 | 14 / 0 / 10 |
| ours better / tied / worse than cheapest | 7 / 8 / 9 | 13 / 6 / 5 | 14 / 0 / 10 | 15 / 0 / 9 |
At 5% V-optimal, D-optimal and cheapest-first buy many cheap runs (21-23 runs in all; V-optimal's and cheapest's
errors agree within 0.05 points on 9 tasks), ours fewer, dearer ones (20): it is better on 14 tasks and worse on
the misspecified code, RedPajama and PTB validation sets (c4_original/code: 18.8% against 13.5%). The 90% interval
covered 96-100% of the target runs at every level (ours; V-optimal 97-100%, D-optimal 99-100%, cheapest 97-100%,
random 98-100%); ours' misses are c4_original/code at 2-10% and c4_original/ptb at 10%, where the law fitted to
the smallest runs is off by more than its law error allows. R^2 at 10% within 0.02 of the whole pool's, or above
it: ours on 13 of 24 tasks, V-optimal 9, cheapest 9, D-optimal 7, random 8.4 (mean of its seeds; with three target
runs R^2 swings with one run; the whole pool's median R^2 is 0.83, ours at 10% 0.77, V-optimal 0.57, random 0.60).
An earlier run of the suite (the fit before its readapt rule; ours and V-optimal): ours less V-optimal -0.02 +-
0.39 points at 5% (12 of 24 better), mean errors 5.2 / 4.8 / 4.0 / 3.4%. Adding per sqrt(FLOP) to the two greedy
batches before changed the picks on 1 of 24 tasks (rpj/de-en; 16.1% -> 3.1% at 1%, 4.7% -> 3.6% at 2%, 2.3% -> 2.9%
at 5%, 4.5% -> 5.5% at 10%).
With the log-normal noise prior (``--tasks gadre --methods ours v-optimal``, 60 minutes beside other work), mean
relative error at 1% / 2% / 5% / 10%: ours 5.5 / 4.6 / 3.7 / 3.6%, V-optimal 6.2 / 4.7 / 4.1 / 3.5% (the whole pool
2.38%). Ours less V-optimal: -0.65 +- 0.67 (7 better / 9 tied / 8 worse), -0.12 +- 0.80 (8 / 8 / 8), -0.35 +- 0.39
(14 / 0 / 10), +0.08 +- 0.37 (11 / 0 / 13). Ours less the random picks above (5 seeds, the half-normal prior's fit):
-0.67 +- 0.64 (12 of 24 better), -1.66 +- 0.77 (17), -0.63 +- 0.37 (21), -0.17 +- 0.36 (13). 90% coverage: ours
96-97%, V-optimal 97-100%. R^2 at 10% within 0.02 of the whole pool's: ours 12 of 24 tasks, V-optimal 8 (median R^2
0.74 and 0.58; the whole pool 0.84). Ours now less ours with the half-normal prior: +0.22 +- 0.42, +0.10 +- 0.19,
-0.12 +- 0.18, +0.06 +- 0.10 points: no change beyond the suite's noise.
Random picks again with the log-normal prior (``--methods random --random-seeds 5``, 63 minutes): mean relative
error 6.2 / 6.2 / 4.5 / 3.9%, 90% coverage 96-99%, R^2 at 10% within 0.02 of the whole pool's on 8.2 of 24 tasks
(mean of the seeds). Ours less random: -0.70 +- 0.68 (12 of 24 better), -1.66 +- 0.76 (17), -0.75 +- 0.37 (21),
-0.28 +- 0.36 (14); V-optimal less random: -0.06 +- 0.37 (14), -1.54 +- 0.68 (15), -0.39 +- 0.34 (13), -0.36 +-
0.17 (17).
Tried and not kept: of the three greedy batches, keeping the one the reweighted draws expect most of
(``reweighted_reduction``, the three scored on the same simulated outcomes) instead of the linear update's. It
changed the picks on 1, 1, 5 and 7 of the 24 tasks at 1% / 2% / 5% / 10%; its error less the linear choice's: -0.01
+- 0.01, +0.01 +- 0.01, +0.15 +- 0.14, -0.08 +- 0.09 points (less V-optimal at 5%: -0.21 +- 0.36, 12 of 24
better). On the five simulated supervised designs below it changed one simulation's picks, at 5% (-0.02 points).
No gain beyond the noise, for four reweightings per suggestion instead of one.
Tried and not kept: leaving out of the batch any run whose outcome the linear update values at less than 0.1% of
the target's variance given the runs picked before it, whatever budget is left. On the 24 Gadre et al. tasks it
changed no pick (the suite rerun with it, 11 minutes: every error equal to the stored rows' to 1e-14). On the
simulated distilled pool (3 simulations, ``--levels 0.02 0.05 0.1``, paired with a run without it, 7 and 10
minutes) ours bought 41 / 78 / 118 runs instead of 134 / 194 / 235 (0.8% of the pool at 2%) and its mean relative
error was 0.95 / 0.99 / 0.88% instead of 0.96 / 0.88 / 0.87% (R^2 0.981 / 0.977 / 0.985 against 0.980 / 0.984 /
0.986; the whole pool 0.89%, R^2 0.985): worse at 5% in all three simulations (1.06 / 0.86 / 1.06% against 0.99 /
0.78 / 0.85%). The many cheap runs the update values at next to nothing help the refits, through what they tell of
the noise and the law error's scale, which the update leaves out.
A round's budget (``ours-rounds``: the loop with ``Design.round_budget`` at 1% of the pool's cost), on 12 of the 24
tasks (c4_original, rpj and its 7 validation sets, rw_original on code, de-en, ptb and redpajama; 2 x 6 tasks side by
side), with ours and V-optimal rerun beside it (45 minutes). As the loop first had it (``ours-rounds`` at commit
b44a3cc), a round bought the batch that fits the round: most Gadre et al. runs above 100M parameters cost more than 1%
of the pool, so it never bought them, spent 3.5% of the pool by the 5% level and nothing after, and trailed ours: mean
relative error 4.4 / 4.4% at 5% / 10% against ours' 3.5 / 3.3% and V-optimal's 3.0 / 2.8% (better than ours on 6 of 12:
rpj 0.47% against 0.57 / 0.93%, its c4_en, falcon-refinedweb and openlm sets, rw_original/de-en and /redpajama; worse on
c4_original, 5.7% against 1.4 / 1.2%, the code and ptb sets and rpj/redpajama). As the loop has it now, a round trains
the head of the batch planned for all the budget left (its first picks that fit the round, at least one: a receding
horizon; 8 minutes): it spends what ours spends (4.7% / 9.8%) and its picks are ours' on 11 of 12 tasks at 5% and at 10%
(errors 5.68 / 3.55 / 3.66 / 3.31% at 1% / 2% / 5% / 10%, ours 5.68 / 3.66 / 3.46 / 3.32%; rw_original/code differs,
7.8% against 5.3% at 5%). A round's budget sets the loop's pace without costing the design anything here; it does not
make it better. (On these 12 tasks ours less V-optimal: +0.47 +- 0.66 points at 5%, better on 7; +0.52 +- 0.36 at 10%,
better on 3. The rerun's numbers differ a little from the stored rows, e.g. rpj at 1% 6.3% against 6.0%, the whole
pool's R^2 0.912 against 0.919: the fit has changed a little since; the picks are the same.) On the crossover's first
batch it does better: ``--tasks sim-crossover --sim-seeds 6 --first-sim-seed 0`` and ``6``, ``--methods ours-rounds
--levels 0.02`` (2 x 27 minutes side by side), CRPS at 2% by simulation 2.57, 1.25, 3.14, 0.64, 0.38, 0.55, 0.15, 0.40,
1.23, 0.22, 1.03, 2.15, mean 1.14 against ours' 1.61 in one batch (-0.47 +- 0.26, better in 9 of 12, p 0.08), random
picks' 1.13 (+0.01 +- 0.25, better in 7, p 0.85) and cheapest-first's 1.29; covered 11 of 12; 71-119 runs.
The same rounds on to 10% (``--levels 0.02 0.05 0.1``, simulations 0-2, 3-5, 6-8 and 9-11, two at a time beside
other work, 54-81 minutes each; ``experiments/crossover_suite.py ... --method ours-rounds``): CRPS 1.14 / 0.86 / 0.63
decades at 2% / 5% / 10% (ours in one batch 1.61 / 1.03 / 0.56, random picks 1.13 / 1.28 / 1.17, cheapest-first 1.29 /
1.24 / 1.17, the whole pool 0.64); less ours -0.47 +- 0.26 (9 of 12 better, p 0.08), -0.18 +- 0.20 (8, p 0.30), +0.07
+- 0.13 (7, p 0.97); less random +0.01 +- 0.25 (7, p 0.85), -0.42 +- 0.22 (10, p 0.05), -0.54 +- 0.16 (11, p 0.005);
covered 11 / 12 / 12 of 12; 94 / 157 / 214 runs on average. Rounds gain on one batch early and cost nothing after, so
they are the loop's default (a tenth of the budget left after round 0: at the 10% level, these rounds).
The default for a budget of 2% of the pool is rounds of 0.2% (``--round-share 0.002 --levels 0.02``, simulations 0-5
in two runs of three side by side, 87 minutes, then one simulation a run, 7-17 minutes): CRPS 1.13 decades at 2% (by
simulation 1.92, 0.89, 1.21, 0.54, 0.58, 0.32, 0.62, 0.45, 2.42, 0.18, 2.28, 2.12), against random picks' 1.13
(-0.01 +- 0.31, better in 8 of 12, p 0.97), rounds of 1% 1.14 (-0.02 +- 0.24, 7 of 12, p 0.91), cheapest-first's
1.29 (-0.16 +- 0.33, 9 of 12, p 0.52) and ours in one batch 1.61 (-0.48 +- 0.29, 8 of 12, p 0.18); covered 12 of 12;
85-125 runs (``experiments/crossover_suite.py`` on the three crossover files, this one's method renamed). The first
eight simulations (0.78 against random's 1.29) did not foretell the last four (1.82 against 0.82): at 2% the
crossover's answer swings by decades with the runs' noise, and no rule measured here beats random picks there.
The default for a budget of 5% is rounds of 0.5% (``--round-share 0.005 --levels 0.05``, ``--sim-seeds 6
--first-sim-seed 0`` and ``6`` side by side beside other work, stopped after 3 simulations each, about 20 minutes a
simulation, then ``--sim-seeds 1 --first-sim-seed`` 3, 4, 5, 9, 10 and 11, 10-16 minutes each;
``results/design_sim_crossover_rounds_5.csv``): CRPS 1.01 decades at 5% (by simulation 0.62, 0.43, 1.81, 0.70, 0.17,
0.83, 1.77, 0.93, 0.23, 0.18, 2.26, 2.18), against random picks' 1.28 (-0.27 +- 0.24, better in 8 of 12, p 0.27),
rounds of 1% 0.86 (+0.15 +- 0.17, 5 of 12, p 0.57), ours in one batch 1.03 (-0.02 +- 0.26, 6 of 12, p 0.85),
cheapest-first 1.24 (-0.24 +- 0.22, 8 of 12, p 0.34) and V-optimal 2.70 (12 of 12, p < 0.001); covered 12 of 12;
140-193 runs. The first nine simulations (0.83 against random's 1.39, p 0.039) again did not foretell the last three
(1.54 against 0.93): on this question the default's gain on random picks at 5% is not beyond the noise of 12
simulations; rounds of 1% (10 of 12, p 0.05) and V-optimal's loss are.
A budget given at once, as the loop is given ``--budget``: ``--levels 0.05`` alone, so each method plans its 5% from the
start instead of adding to its own 1% and 2% batches (the levels above are nested). All 24 Gadre et al. tasks
(``--methods ours-rounds ours v-optimal --round-share 0.005``, two halves side by side, 8-10 minutes; then ``--methods
v-optimal-rounds --round-share 0.005``, 25 minutes, and ``--methods largest-first cheapest random --random-seeds 5``, 26
minutes, beside other work; rows in ``results/design_gadre_at_once_5.csv``). Mean relative error / 90% coverage: ours
2.96% / 99%, ours in the loop's rounds (0.5% of the pool: its default for this budget) 3.08% / 99%, V-optimal 4.04% /
100%, V-optimal in the same rounds 4.12% / 100%, cheapest-first 3.85% / 100%, largest-first 4.27% / 93%, random (5
seeds) 4.69% / 96%; the whole pool 2.35% / 97%. The loop's rounds less V-optimal's rounds -1.04 +- 0.39 points (better
in 19 of 24, Wilcoxon p 0.0065), less V-optimal -0.96 +- 0.39 (19, p 0.0087), less random -1.61 +- 0.27 (22, p 2e-5),
less largest-first -1.19 +- 0.47 (17, p 0.023); ours in one batch less V-optimal -1.08 +- 0.40 (19, p 0.0065). V-optimal
in rounds picks as in one batch on 23 of 24 tasks, ours on 18. R^2 within 0.02 of the whole pool's: ours 15 of 24, the
loop's rounds 14, V-optimal 10, its rounds 9, cheapest 10, largest-first 6, random 6.8. At 10% given at once (``--levels
0.1``; ``--methods ours v-optimal``, 16 minutes, ``--methods ours-rounds --round-share 0.01``, 19 minutes, and
``--methods v-optimal-rounds largest-first cheapest random --random-seeds 5 --round-share 0.01``, 53 minutes, beside
other work; ``results/design_gadre_at_once_10.csv``, summarised by ``experiments/gadre_suite.py``), mean relative error
/ 90% coverage: the loop's rounds (1% of the pool: its default for this budget) 2.99% / 99%, ours in one batch 3.40% /
97%, V-optimal 3.37% / 99%, V-optimal in the same rounds 3.33% / 99%, largest-first 3.46% / 96%, cheapest-first 4.01% /
96%, random 4.05% / 95%. The rounds less V-optimal's rounds -0.34 +- 0.27 points (better on 15 of 24, p 0.19), less
random -1.06 +- 0.28 (18, p 0.002), less cheapest -1.02 +- 0.43 (16, p 0.039); ours in one batch less V-optimal +0.03 +-
0.37 (12, p 0.99). R^2 within 0.02 of the whole pool's: the rounds on 15 of 24 tasks (median R^2 0.88, the whole pool's
0.83), ours 12, largest-first 12, V-optimal and its rounds 11, cheapest 9, random 8.8. The rounds' misses are the code,
RedPajama and de-en validation sets (7 of the 9) and the OpenLM set of c4_original and rw_original; on 5 of the 9 the
whole pool's own R^2 is below 0.8. Ours in one batch is worse at 10% than at 5% on the c4_original tasks (4.9% against
1.4% scored on C4; the whole pool 2.2%): its 10% batch holds the 360M run at twice the 5% batch's tokens, which
extrapolates worse to 1.44B and 6.89B; the rounds, refitted after that run, add the 360M run at a quarter of the tokens
and score 0.98% there (R^2 0.93). At 2% given at once (``--methods ours-rounds ours v-optimal random --random-seeds 5
--round-share 0.002 --levels 0.02``, 35 minutes beside other work; ``results/design_gadre_at_once_2.csv``): ours 5.36% /
88%, the loop's rounds 5.54% / 88%, V-optimal 4.87% / 100%, random 6.12% / 92%; ours less V-optimal +0.49 +- 1.03 (9 of
24 better, p 0.56), less random -0.76 +- 0.67 (14, p 0.34). Error here is not monotone in what is spent: which runs
extrapolate beyond the pool's sizes, more than how many are bought, sets it, and the gain at 5%, paired and significant
over 24 tasks, rests on that: at 2% V-optimal leads, at 10% the rounds lead by the mean only.
Which runs, by 5% (the 1%, 2% and 5% rounds' batches; ``picked`` in ``--out``): on rpj, rw_original and
rw_original/redpajama, both ours and V-optimal buy runs at 53M, 125M and the pool's largest N (360M, non-embedding);
ours spends more on one dear 360M run (46 tokens per parameter), V-optimal on more mid-size runs (8 runs against
5-6). rw_original and rw_original/redpajama (one set of training runs, scored on two validation sets) got the same
picks from each method, and ours was better on the first (1.3% against 3.7%) and worse on the second (4.6% against
0.5%): the gap on the misspecified validation sets is how one set of runs extrapolates there, not a different choice
of runs.
Since a run alone at its size has its own law error in the fit (``law_error_levels``; before, the refits took it
for the law's exact value there, which the design did not), ``--tasks gadre --methods ours`` then ``v-optimal``
(13-14 minutes each): ours less ours before +0.04 +- 0.12, +0.03 +- 0.09, -0.00 +- 0.00, +0.02 +- 0.02 points at 1% /
2% / 5% / 10% (errors unchanged on 23 of 24 tasks at 5% and at 10%); V-optimal
+0.12 +- 0.13, -0.27 +- 0.34, -0.00 +- 0.00, -0.01 +- 0.01. Ours less V-optimal: -0.73 +- 0.68, +0.18 +- 0.67, -0.35
+- 0.39 (14 of 24 better), +0.10 +- 0.37; R^2 at 10% within 0.02 of the whole pool's: ours 12 of 24, V-optimal 8.
The simulated supervised suite below (ours and V-optimal, 5 simulations) gave the same numbers to the digit.
With a run at a new size scored as its refit sees it (``posterior.new_sizes``; ``--tasks gadre --methods ours
v-optimal``, 28 minutes): mean relative error at 1% / 2% / 5% / 10% ours 5.53 / 4.88 / 3.91 / 3.38%, V-optimal
6.51 / 4.59 / 3.94 / 3.42% (the whole pool 2.37%); ours less V-optimal -0.97 +- 0.65 (8 better / 10 tied / 6
worse), +0.29 +- 0.73 (4 / 9 / 11), -0.04 +- 0.37 (15 / 0 / 9), -0.05 +- 0.34 (12 / 0 / 12). 90% coverage: ours
94-97% (its misses c4_original/code at every level, c4_original/ptb and rpj/redpajama at 10%). R^2 at 10% within
0.02 of the whole pool's: ours 14 of 24 tasks, V-optimal 9 (median R^2 0.81 and 0.67; the whole pool 0.83).
Against the design before (the paragraph above, not paired): +0.0 / +0.3 / +0.2 / -0.2 points, within the suite's
noise. The simulated supervised design with a 1% law error (5 simulations, ``--law-error 0.01 --methods ours
v-optimal``): ours 2.59 / 2.53 / 2.29 / 2.43%, V-optimal 3.01 / 2.40 / 2.36 / 2.41%; ours less V-optimal -0.42 +-
0.45 (4 of 5 better), +0.13 +- 0.04 (0 of 5), -0.07 +- 0.06 (3 of 5), +0.02 +- 0.08 (3 of 5); before: 2.78 / 2.29 /
2.29 / 2.41%.
Random picks rerun with the same fit, paired with that run's ours and V-optimal (``--tasks gadre --methods random
--random-seeds 5``, 70 minutes beside other work): mean relative error 6.24 / 6.19 / 4.42 / 3.87%, 90% coverage
97-99%, R^2 at 10% within 0.02 of the whole pool's on 8.6 of 24 tasks (mean of the seeds). Ours less random -0.71 +-
0.54 (13 of 24 better), -1.31 +- 0.78 (15), -0.51 +- 0.37 (19), -0.49 +- 0.36 (14); V-optimal less random +0.26 +-
0.37 (11), -1.60 +- 0.71 (16), -0.48 +- 0.30 (12), -0.44 +- 0.18 (15). The 90% interval's width, ours against
V-optimal (mean log ratio): -0.069 +- 0.017, -0.060 +- 0.019, +0.023 +- 0.029, +0.042 +- 0.018 (on the simulated
design with a 1% law error just above, +0.02 to +0.09): narrower at 1% and 2% on the Gadre tasks, not beyond.
Wilcoxon's signed-rank test on those paired gaps (``paired_gaps``' ``wilcoxon_p``, two-sided, tied picks left out),
p at 1% / 2% / 5% / 10%: ours less V-optimal 0.22 / 0.28 / 0.64 / 0.83 (no difference shown at any level); ours
less random 0.36 / 0.079 / 0.029 / 0.10; V-optimal less random 0.58 / 0.042 / 0.21 / 0.046. Without the warm-up
runs (below): ours less V-optimal 0.25 / 0.77 / 0.85 / 0.26, ours less random 0.50 / 0.97 / 0.029 / 0.12.
The suite can leave out the runs that stop inside their learning-rate warm-up (``--finished-warmup``: 53M and 360M
parameters at M = 5, one of each per training set, whose losses sit +14.9% and +4.5% above the whole pool's law on
average, ``experiments/gadre_residuals.py``). In the paired runs above every method buys the 360M one, the cheapest
run at the pool's largest size: V-optimal at 1% on 23 of 24 tasks, ours by 10% on all 24. ``--tasks gadre
--finished-warmup --methods ours v-optimal`` (29 minutes), then ``--methods random --random-seeds 3`` (46 minutes
beside a test run); mean relative error at 1% / 2% / 5% / 10% (the whole pool: 2.33%, median R^2 0.79):
| method | 1% | 2% | 5% | 10% |
|---|---|---|---|---|
| ours | 5.66% / 97% | 5.73% / 78% | 4.23% / 89% | 3.24% / 94% |
| V-optimal | 6.07% / 97% | 5.64% / 78% | 4.05% / 92% | 3.43% / 96% |
| random (3 seeds) | 6.38% / 97% | 5.63% / 99% | 5.43% / 90% | 3.90% / 90% |
(mean relative error / 90% coverage). Ours less V-optimal: -0.42 +- 0.44 (6 better / 16 tied / 2 worse), +0.09 +-
0.18 (6 / 14 / 4), +0.18 +- 0.23 (7 / 12 / 5), -0.19 +- 0.25 (11 / 7 / 6); ours less random: -0.72 +- 0.80 (9 of 24
better, 8 tied), +0.09 +- 0.81 (11), -1.20 +- 0.53 (18), -0.65 +- 0.41 (15). Ours and V-optimal now pick the same
runs on 7-16 of the 24 tasks, and neither is better: the tie at 5% above is not that run's doing. At 2% both cover
78% and are no better than random: on the 8 c4_original tasks both add the 360M run at M = 10 (its warm-up half its
steps, -1.7% off the law on average) alone at its size, and the fit extrapolates from it to 1.44B and 6.89B (8.3%
off on c4_original/c4_en, its 90% interval +-4.4%). The per-size law error cannot see a miss that runs along D. R^2
at 10% within 0.02 of the whole pool's: ours 14 of 24 tasks, V-optimal 12, random 8.7 (mean of its seeds).
The simulated supervised design, 5 simulations (``--tasks sim-supervised --sim-seeds 5 --levels 0.01 0.02 0.05``,
random 4 seeds), mean relative error (the whole pool: 1.30%) and 90% coverage:
| method | 1% | 2% | 5% |
|---|---|---|---|
| ours | 1.46% / 99% | 1.55% / 100% | 1.46% / 96% |
| random (4 seeds) | 2.08% / 92% | 1.95% / 94% | 1.62% / 94% |
| V-optimal | 2.30% / 92% | 1.45% / 99% | 1.48% / 97% |
| ours less random | -0.63 +- 0.31 (5 of 5 better) | -0.40 +- 0.15 (5 of 5) | -0.16 +- 0.15 (3 of 5) |
| ours less V-optimal | -0.84 +- 0.46 (4 of 5) | +0.09 +- 0.07 (2 of 5) | -0.01 +- 0.14 (4 of 5) |
The same five simulations again with today's fit and all four deterministic methods (``--methods ours v-optimal
d-optimal cheapest``, 18 minutes; the whole pool: 1.33%):
| method | 1% | 2% | 5% |
|---|---|---|---|
| ours | 1.44% / 100% | 1.66% / 98% | 1.50% / 97% |
| V-optimal | 2.23% / 95% | 1.60% / 99% | 1.41% / 97% |
| D-optimal | 2.35% / 86% | 2.11% / 94% | 1.66% / 95% |
| cheapest | 3.30% / 81% | 2.59% / 82% | 1.71% / 97% |
| random (5 seeds, ``--methods random --random-seeds 5``) | 2.04% / 93% | 1.93% / 91% | 1.58% / 94% |
| ours less V-optimal | -0.79 +- 0.28 (5 of 5 better) | +0.06 +- 0.10 (2 of 5) | +0.09 +- 0.13 (3 of 5) |
| ours less random (5 seeds) | -0.60 +- 0.22 (5 of 5 better) | -0.27 +- 0.16 (4 of 5) | -0.08 +- 0.13 (2 of 5) |
Ours is better than D-optimal in 3 of 5 simulations at each level and than cheapest-first in 5, 4 and 3 of 5.
R^2 on the target: ours 0.987 / 0.983 / 0.984, V-optimal 0.969 / 0.983 / 0.987, random 0.970 / 0.974 / 0.983, the
whole pool 0.987; ours is within 0.02 of the whole pool's at every level.
At 10% given at once (``--tasks sim-supervised --sim-seeds 5 --levels 0.1 --methods ours-rounds ours v-optimal random
--random-seeds 5 --round-share 0.01``, 31 minutes beside the next; ``results/design_sim_supervised_10.csv``; the whole
pool 1.29%, R^2 0.972-0.998), mean relative error / 90% coverage: ours 1.46% / 97%, the loop's rounds 1.48% / 94%,
V-optimal 1.46% / 97%, random 1.77% / 93%; R^2 on the target within 0.02 of the whole pool's in 5 of 5 simulations for
ours, its rounds and V-optimal, 4.2 for random (mean of its seeds). The rounds less V-optimal +0.02 +- 0.11 points, less
random -0.29 +- 0.26 (3 of 5 better). With a 1% law error in the truth (``--law-error 0.01``, the same command, 31
minutes; ``results/design_sim_supervised_law_error_10.csv``; the whole pool 2.38%): ours 2.41% / 92%, the rounds 2.39% /
90%, V-optimal 2.42% / 89%, random 2.74% / 85%; R^2 within 0.02 in 5 of 5 for the three, 3.6 for random; the rounds less
V-optimal -0.03 +- 0.05, less random -0.35 +- 0.30 (3 of 5).
With the log-normal noise prior (``--methods ours v-optimal``, the same five simulations; the whole pool: 1.32%),
mean relative error / 90% coverage at 1% / 2% / 5%: ours 1.45% / 99%, 1.59% / 99%, 1.49% / 97%; V-optimal 2.09% /
97%, 1.53% / 99%, 1.50% / 99%. Ours less V-optimal: -0.63 +- 0.19 (5 of 5 better), +0.06 +- 0.07 (2 of 5), -0.01
+- 0.04 (2 of 5). R^2: ours 0.987 / 0.984 / 0.985, V-optimal 0.973 / 0.985 / 0.984, the whole pool 0.987.
With a law error in the truth, as the model assumes (``--law-error 0.01``: each size's log loss 1% off the law;
``--tasks sim-supervised --sim-seeds 5 --methods ours v-optimal``, 8 minutes, then ``--methods random d-optimal
cheapest --random-seeds 5``, 26 minutes), mean relative error / 90% coverage at 1% / 2% / 5% / 10% (the whole pool:
2.40% / 85%; the target's own law error, which no run in the pool tells, sets that floor):
| method | 1% | 2% | 5% | 10% |
|---|---|---|---|---|
| ours | 2.78% / 87% | 2.29% / 92% | 2.29% / 91% | 2.41% / 88% |
| V-optimal | 3.10% / 80% | 2.36% / 90% | 2.38% / 89% | 2.41% / 88% |
| random (5 seeds) | 2.93% / 87% | 2.62% / 88% | 2.46% / 88% | 2.37% / 89% |
| D-optimal | 3.26% / 82% | 2.95% / 88% | 2.51% / 86% | 2.43% / 88% |
| cheapest | 4.03% / 69% | 3.30% / 77% | 2.47% / 89% | 2.39% / 87% |
| ours less V-optimal | -0.32 +- 0.46 (4 of 5 better) | -0.07 +- 0.10 (3) | -0.09 +- 0.08 (4) | +0.00 +- 0.06 (3) |
| ours less random | -0.15 +- 0.26 (3 of 5) | -0.33 +- 0.15 (4) | -0.17 +- 0.17 (3) | +0.04 +- 0.08 (2) |
Ours has the lowest mean error of the five at 1%, 2% and 5%, and by 5% it is at the whole pool's floor; the gaps at
5% are within two standard errors. R^2 at 10%: every method 0.961-0.964, the whole pool 0.962.
Ten more simulations (``--first-sim-seed 5 --sim-seeds 10 --methods ours v-optimal``, 45 minutes beside other
work; the whole pool: 3.19% / 80%): ours 3.54% / 88%, 3.17% / 86%, 3.19% / 83%, 3.08% / 84% at 1% / 2% / 5% /
10%; V-optimal 3.27% / 85%, 3.23% / 84%, 3.14% / 83%, 3.08% / 85%; ours less V-optimal +0.27 +- 0.35 (4 of 10
better), -0.06 +- 0.11 (6), +0.04 +- 0.06 (4), +0.00 +- 0.07 (4). Over all 15 simulations: +0.07 +- 0.28 (8 of
15), -0.07 +- 0.08 (9), -0.00 +- 0.05 (8), +0.00 +- 0.05 (7): at 5% ours and V-optimal are the same here, both at
the whole pool's error. R^2: ours 0.927 / 0.939 / 0.936 / 0.942, V-optimal 0.929 / 0.934 / 0.940 / 0.939, the
whole pool 0.936.
The distilled pool, 3 simulations (``--tasks sim-distilled --sim-seeds 3 --methods ours random v-optimal cheapest
--levels 0.02 0.05 0.1 --random-seeds 3``, 50 minutes; pool 548 runs, 5.9e23 FLOPs; 167 target runs), R^2 / mean
relative error / 90% coverage at 2% / 5% / 10%:
| method | 2% | 5% | 10% |
|---|---|---|---|
| ours | 0.980 / 0.94% / 94% | 0.985 / 0.86% / 94% | 0.986 / 0.85% / 94% |
| random (3 seeds) | 0.978 / 0.99% / 98% | 0.972 / 1.02% / 96% | 0.969 / 1.05% / 95% |
| random (5 seeds, today's fit) | 0.975 / 1.01% / 99% | 0.975 / 0.99% / 96% | 0.974 / 1.01% / 96% |
| cheapest | 0.981 / 0.93% / 94% | 0.984 / 0.89% / 94% | 0.987 / 0.85% / 93% |
| V-optimal | 0.567 / 2.42% / 98% | 0.985 / 0.87% / 95% | 0.987 / 0.85% / 94% |
| whole pool | 0.986 / 0.88% / 92% | | |
Ours is better than random in 2, 3 and 3 of 3 simulations, than V-optimal in 3, 2 and 1 (gaps within 0.02
points at 5% and 10%). Against random at 5 seeds with today's fit (``--methods random --random-seeds 5``, 30
minutes; ours from the run above): ours less random -0.07, -0.13 and -0.16 points, better in 2, 3 and 3 of 3.
Random picks few, dear runs (46 at 2%, cheapest-first 206, ours 133): on a distilled pool,
where many runs are cheap, cheapest-first is the strong baseline. V-optimal at 2% spent 1.6% of the pool: its
linearisation saw little left worth buying.
With a 1% law error per student size in the truth (``--tasks sim-distilled --sim-seeds 2 --law-error 0.01 --methods
ours v-optimal cheapest --levels 0.02 0.05 0.1``, 14 minutes), R^2 / mean relative error / 90% coverage at 2% / 5% /
10%: ours 0.950 / 1.66% / 79%, 0.955 / 1.58% / 80%, 0.955 / 1.59% / 78%; cheapest 0.950 / 1.67% / 74%, 0.955 /
1.60% / 73%, 0.953 / 1.67% / 75%; V-optimal 0.922 / 1.80% / 97% (it spent 1.2% of the pool), 0.945 / 1.75% / 76%,
0.952 / 1.63% / 81%; the whole pool 0.956 / 1.64% / 75%. Ours less V-optimal -0.14 +- 0.29, -0.17 +- 0.20, -0.04
+- 0.06 points (better in 1 of 2 simulations at each level). The 90% intervals of every method, the whole pool's
too, cover 73-81% of the target in these two simulations (but V-optimal's at 2%, from fewer runs): simulation 1
is an unlucky one (the whole pool covers 51% of it; its fitted law error is 0.003, 90% interval 0.0007-0.0079,
against the truth's 0.01). The whole pool's fit of simulations 0-25 one at a time covered 87.6% +- 2.8% of the
target runs on average (median 93%, 6 of 26 below 80%: a law error shared by the three target sizes' many runs
makes each simulation's coverage lumpy), and its law error's posterior median averaged 0.0109.
The crossover of the 2.7B student (``--tasks sim-crossover``, same pool and levels, one simulation, the supervised
law held as the task had it then (see below), measured with the two greedy batches before per sqrt(FLOP) joined; the
truth on the searched range 1e18-1e25 FLOPs): absolute error of the median's log10 C* / whether the 90% interval
covers the truth / its width (decades) at 2% / 5% / 10%:
| method | 2% | 5% | 10% |
|---|---|---|---|
| ours | 3.07 / yes / 3.84 | 0.49 / yes / 3.64 | 0.02 / yes / 3.63 |
| ours, three greedy batches (as now) | 0.24 / yes / 4.12 | 3.10 / yes / 3.81 | 0.29 / yes / 3.78 |
| random (3 seeds) | 2.17 / 3 of 3 / 4.32 | 3.07 / 3 of 3 / 3.57 | 3.07 / 3 of 3 / 3.34 |
| cheapest | 3.07 / yes / 3.41 | 3.07 / yes / 3.47 | 0.22 / yes / 3.66 |
| D-optimal | 3.07 / yes / 4.18 | 3.07 / no / 0.00 | 3.07 / yes / 3.19 |
| V-optimal | 3.07 / no / 0.00 | (picked nothing) | |
| whole pool | 0.05 / yes / 3.59 | | |
The pool hardly narrows the question (even the whole pool's interval spans 3.6 decades: many draws have
distillation win throughout the range, C* at its end), but the median moves: at 5% and 10% ours is the one method
whose median finds the crossover (0.49 and 0.02 decades off), where the others stay at the range's end (3.07).
The posterior of C* has two modes (near the truth, and at the range's end), so its median jumps between them: with
three batches ours finds the crossover at 2% and 10% but not at 5% (the whole pool: 0.01 decades off).
V-optimal's linearisation at the median has a zero gradient there (the answer is clipped), so it picks nothing.
Is there room at 5% for any design to beat V-optimal? Largest-first (``--tasks gadre --methods largest-first``,
11 minutes; ``--finished-warmup``, 13 minutes; ``--tasks sim-supervised --sim-seeds 5 --law-error 0.01 --methods
largest-first``, 6 minutes, paired with ``--methods ours v-optimal`` rerun beside it with today's fit, 16 minutes;
rows in ``results/``). Mean relative error at 1% / 2% / 5% / 10%:
| method | Gadre et al., 24 tasks | the same, finished warm-up | simulated, 1% law error, 5 sims |
|---|---|---|---|
| largest-first | 4.90 / 3.91 / 3.98 / 3.51% | 5.24 / 5.61 / 3.92 / 3.18% | 2.51 / 2.38 / 2.37 / 2.37% |
| ours | 5.53 / 4.88 / 3.91 / 3.38% | 5.66 / 5.73 / 4.23 / 3.24% | 2.59 / 2.35 / 2.34 / 2.52% |
| V-optimal | 6.51 / 4.59 / 3.94 / 3.42% | 6.07 / 5.64 / 4.05 / 3.43% | 2.78 / 2.29 / 2.36 / 2.31% |
| random | 6.24 / 6.19 / 4.42 / 3.87% | 6.38 / 5.63 / 5.43 / 3.90% | |
On the Gadre et al. suite largest-first less ours: -0.63 +- 0.45 (15 of 24 better, Wilcoxon p 0.22), -0.97 +- 0.54
(17, p 0.074), +0.07 +- 0.36 (10, p 0.57), +0.14 +- 0.36 (13, p 0.79); less V-optimal: -1.61 +- 0.74 (16, p 0.049),
-0.68 +- 0.61 (12, p 0.92), +0.04 +- 0.21 (11, p 0.68), +0.09 +- 0.11 (10, p 0.71); 90% coverage 97-100%. Finished
warm-up, less ours: -0.41 +- 0.41, -0.12 +- 0.19, -0.31 +- 0.15 (15 of 24, p 0.14), -0.06 +- 0.09; coverage 94 / 79
/ 92 / 94% (it buys the 360M run at M = 10 at 2%, as the others do). Simulated, less ours: -0.08 +- 0.28, +0.03 +-
0.07, +0.03 +- 0.12, -0.15 +- 0.08 (ours less V-optimal there: -0.19 +- 0.25, +0.06 +- 0.17, -0.02 +- 0.17, +0.21 +-
0.13; coverage of all three 88-93%, the whole pool's 83%). At 5% the four designs land within 0.1 points of each
other on the Gadre et al. suite and within 0.03 on the simulations, at the whole pool's error there (2.38%): the
level sits at a floor that the choice of runs does not move. The best of random's 5 seeds, chosen knowing the
target, averages 2.29% at 5% (the whole pool 2.37%): subsets that extrapolate better exist, but the pool's losses
do not tell which. On these supervised suites, whose target is the largest models, the rule "largest first" is as
good as any design measured and better than ours at 1-2% on the Gadre et al. tasks (not beyond the suite's noise);
ours' gain over it is where the target is not simply "larger": the crossover and distilled targets above.
The crossover again, on 4 simulations and scored by CRPS (decades; the median above jumps between the answer's two
modes). First with the supervised law held at its fit as the task had it then (``--tasks sim-crossover --sim-seeds 4
--methods ours largest-first cheapest v-optimal random --random-seeds 3 --levels 0.02 0.05 0.1``, 50 minutes; rows in
``results/design_sim_crossover_two_stage.csv``): CRPS at 2% / 5% / 10% ours 1.71 / 1.25 / 1.10, random 1.57 / 1.67 /
1.93, cheapest 1.94 / 1.78 / 1.38, largest-first 2.03 / 1.73 / 1.93, V-optimal 2.36 (it picks nothing); but the
whole pool's was 1.89, its 90% interval covering the truth in 2 of 4 simulations (0.1 decades wide in simulation 1,
2.9 decades off): the held supervised law left its uncertainty out of the answer
(``experiments/fixed_supervised_crossover.py``: the two-stage interval covers in 3 of 8 simulations, the joint one in
8 of 8). So the task now fits the supervised runs with the pool's. Then (the same command, ``--random-seeds 2``, 64
minutes beside a test run; ``results/design_sim_crossover.csv``), CRPS / 90% coverage over the 4 simulations:
| method | 2% | 5% | 10% |
|---|---|---|---|
| ours | 2.06 / 4 of 4 | 1.59 / 3 of 4 | 0.76 / 4 of 4 |
| cheapest | 1.71 / 4 of 4 | 1.28 / 4 of 4 | 0.87 / 4 of 4 |
| random (2 seeds) | 1.46 / 7 of 8 | 1.65 / 7 of 8 | 1.48 / 6 of 8 |
| largest-first | 2.11 / 4 of 4 | 1.88 / 4 of 4 | 1.85 / 4 of 4 |
| V-optimal (picks nothing) | 2.71 / 3 of 4 | 2.71 / 3 of 4 | 2.71 / 3 of 4 |
| whole pool | 0.83 / 4 of 4 | | |
Ours less V-optimal -0.66 +- 0.22 / -1.12 +- 0.61 / -1.96 +- 0.34 (better in 4, 3 and 4 of 4); less random +0.59 +-
0.36 / -0.06 +- 0.39 / -0.73 +- 0.25 (better in 1, 2 and 4 of 4); less cheapest +0.35 +- 0.38 / +0.32 +- 0.63 /
-0.11 +- 0.44. At 10% ours reaches the whole pool's CRPS (0.76 against 0.83); at 2% and 5% on this question no
method is ahead of random picks beyond the noise of 4 simulations, and V-optimal, whose linearisation at the clipped
median has a zero gradient, buys nothing at any level.
The same on 12 simulations (simulations 4-7 and 8-11 added, ``--first-sim-seed 4 --sim-seeds 4`` and ``8``, 60 and 57
minutes side by side; the rows of all 12 in ``results/design_sim_crossover.csv``; the table and gaps printed by
``experiments/crossover_suite.py``), CRPS / 90% coverage:
| method | 2% | 5% | 10% |
|---|---|---|---|
| ours | 1.61 / 12 of 12 | **1.03** / 11 of 12 | **0.56** / 12 of 12 |
| cheapest | 1.29 / 12 of 12 | 1.24 / 11 of 12 | 1.17 / 10 of 12 |
| random (2 seeds) | **1.13** / 23 of 24 | 1.28 / 23 of 24 | 1.17 / 21 of 24 |
| largest-first | 1.73 / 12 of 12 | 2.11 / 10 of 12 | 1.86 / 11 of 12 |
| V-optimal (picks nothing) | 2.70 / 11 of 12 | 2.70 / 11 of 12 | 2.70 / 11 of 12 |
| whole pool | 0.64 / 12 of 12 | | |
Ours less random: +0.48 +- 0.23 (better in 5 of 12, Wilcoxon p 0.09) / -0.25 +- 0.22 (8 of 12, p 0.27) / -0.61 +-
0.16 (11 of 12, p 0.009); less cheapest +0.32 +- 0.27 / -0.21 +- 0.35 / -0.61 +- 0.30 (10 of 12, p 0.05); less
largest-first -0.12 +- 0.16 / -1.08 +- 0.34 (p 0.016) / -1.31 +- 0.25 (p 0.001); less V-optimal -1.09 +- 0.21 /
-1.67 +- 0.28 / -2.15 +- 0.15 (p <= 0.001 at each). By 10% ours scores as the whole pool does (0.56 against 0.64);
at 5% it is ahead of every method by the mean, of V-optimal and largest-first beyond the noise, of random and
cheapest-first not; at 2% it trails random picks (5 of 12). That first batch is picked from the start's posterior
(23 distilled runs), and ``experiments/crossover_valuation.py`` finds that posterior's valuation of the methods'
first batches does not foretell what their refits did (Spearman over the batches of a simulation, mean over 12:
+0.14 with the narrowing of the 90% interval, -0.11 with the CRPS); the refits widened the interval after 6 of
ours' 12 first batches and 15 of random's 24. Picked from the fit's default 4,000 draws instead of these 1,000
(``experiments/crossover_first_batch_draws.py``), ours' first batch scored 1.34 (-0.27 +- 0.23, better in 7 of 12),
still behind random's 1.13. Picked by the greedy on the answer's normal scores, or per FLOP alone
(``experiments/crossover_first_batch_rules.py``), it scored 1.62 and 1.52 (less ours +0.01 +- 0.09, -0.09 +- 0.11):
89-94% of the start's draws put the crossover above the range searched, the truth (10^21.8 FLOPs) inside it.
Ranking 1,000 candidates against 4,000 draws (``--speed``, the first call, which builds the law error's move at
the 786 fitted runs): 5.7 s, 5x the 1.15 s of predicting their supervised losses; with the move's Jacobian
evaluated by NumPy, 9.6 s (8.2 s of it the move; the three greedy batches take 0.2 s). Before: 8.1 s with two
greedy batches; before the law error's move was kept per kind and seed, 31.7 s.
Today (the log-normal noise prior's fit, kept at 4,000 draws; the batch's expected cut also by reweighting the draws):
6.2 s, 5x the 1.17 s of predicting.
Since a run at a new size is scored as its refit sees it (``posterior.new_sizes``: its own level, the extrapolated
law error's cut in closed form), the first call takes 9.7-10.9 s, 5-8x predicting (the design before, measured
beside it: 8.1-8.7 s, 6-7x); 4 s of it is the greedy batches' cuts, each pick one run's rank-one update.
With Cov(f, f) conditioned by one rank-one factor per pick (``Ensemble.observe``, not a pass over every pair of
candidates) and the cut's extrapolation kept as J^T W E B and B^T B over three powers of log N (a run joining costs
the same however many sizes have joined; the per-FLOP batch adds about 120 of them): 4.15 and 4.26 s in two runs,
2x predicting (1.77 and 1.81 s). The same picks and reductions (to 1e-13) as before on this task at two budgets.
(Before shard_map replaced pmap, about 100 fits of differing sizes in one process exhausted the kernel's memory
mappings; a loop of fits of new designs now stays at 6,500 mappings once the program cache is full.)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import wilcoxon

import bayes_distill as bd
from bayes_distill.atomic import atomic_path
from bayes_distill.data.candidates import load_candidates
from bayes_distill.data.simulate import PAPER_RECOVERY, simulate_paper_design
from bayes_distill.laws import PAPER_ARCHITECTURE, SUPERVISED_COEFFICIENTS
from bayes_distill.planner import crossover as plan_crossover
from bayes_distill.posterior.design import batch_head, candidate_cost, picked_in_order
from bayes_distill.posterior.law_error import log_loss_jacobian

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from gadre_check import C4, CSV  # noqa: E402 - the Gadre et al. table beside the repository
from scoring import crps  # noqa: E402

DRAWS = 500
DISTILLED_POOL_MAX_N = 2e9  # distilled pool: students up to 1.82B parameters; target: 2.7B-7.7B
CROSSOVER = ("crossover", 2.718e9, "teacher-inference")  # the crossover target: the smallest target student
ROUND_SHARE = 0.01  # the ``*-rounds`` methods' round (``--round-share``): at the 10% level, the loop's default
# round, a tenth of the budget after round 0


@dataclass(frozen=True)
class Task:
    """A pool of runs (losses revealed when picked) and the target runs to predict."""

    name: str
    pool: pd.DataFrame
    target: pd.DataFrame  # the target's runs, with their losses
    starting_runs: int  # about 2.5 per fitted coefficient
    fix: dict[str, float] | None = None  # coefficients held fixed (the supervised law's, for distillation)
    question: tuple | None = None  # a planner answer to be surer of, in place of the target's runs
    truth: float | None = None  # the question's true answer (log10 FLOPs for a crossover)
    given: pd.DataFrame | None = None  # runs trained before the pool (fitted in every fit, at no cost)
    round_share: float = ROUND_SHARE  # the ``*-rounds`` methods' round budget, a share of the pool's cost

    def fit(self, runs: pd.DataFrame) -> bd.Posterior:
        """The benchmark's fit of ``runs`` of the pool, with the given runs and the fixed coefficients."""
        return quiet_fit(pd.concat([self.given, runs]) if self.given is not None else runs, self.fix)

    @property
    def start(self) -> pd.DataFrame:
        """The runs every method starts from: the pool's ``starting_runs`` cheapest."""
        return self.pool[self.pool["run"].isin(self.cost.sort_values().index[:self.starting_runs])]

    @property
    def cost(self) -> pd.Series:
        return pd.Series(candidate_cost(load_candidates(self.pool.drop(columns="loss")), PAPER_ARCHITECTURE),
                         index=self.pool["run"].values)


GADRE_TRAINING_SETS = ("rpj", "rw_original", "c4_original")
GADRE_EVALUATIONS = {  # short name -> the Gadre et al. table's loss column of that validation set
    "c4": C4, "openlm": "loss__val_tok_mult__openlm",
    **{name: f"loss__val_tok_mult__paloma_{name}__00000001.tar" for name in ("c4_en", "falcon-refinedweb", "ptb",
                                                                             "redpajama")},
    "code": "loss__val_tok_mult__paloma_dolma_100_programing_languages__00000001.tar",
    "de-en": "loss__val_tok_mult__de-en__val_de-en_100.tar"}


def gadre_task_name(dataset: str, evaluation: str) -> str:
    """``<training set>/<validation set>``, or the training set alone for C4 (the paper's tables' validation set)."""
    return dataset if evaluation == "c4" else f"{dataset}/{evaluation}"


def gadre_task(dataset: str, evaluation: str = "c4") -> Task:
    """One training set's runs, scored on one validation set."""
    rows = pd.read_csv(CSV)
    rows = rows[rows["dataset"] == dataset]
    runs = pd.DataFrame({"run": rows["name"].values, "kind": "supervised", "N": rows["params_no_embed"].values,
                         "D": rows["tokens"].values, "loss": rows[GADRE_EVALUATIONS[evaluation]].values})
    small = runs["N"] <= 4.2e8
    return Task(gadre_task_name(dataset, evaluation), runs[small].reset_index(drop=True),
                runs[~small].reset_index(drop=True), 15)


GADRE_SEQUENCE_LENGTH = 2048  # tokens per sequence in the Gadre et al. runs (open_lm's context)


def gadre_warmup_share() -> pd.Series:
    """Each Gadre et al. run's learning-rate warm-up as a share of its steps (tokens / (global batch x 2048)), by run
    name: above 1, the run stopped inside its warm-up."""
    rows = pd.read_csv(CSV).set_index("name")
    return rows["warmup"] / (rows["tokens"] / (rows["global_bs"] * GADRE_SEQUENCE_LENGTH))


def finished_warmup(task: Task) -> Task:
    """The Gadre et al. task without the pool's runs that stopped inside their learning-rate warm-up: they never
    trained at their peak rate, so the law of a full schedule does not describe them."""
    keep = (gadre_warmup_share() <= 1)[task.pool["run"]].values
    return replace(task, pool=task.pool[keep].reset_index(drop=True))


def simulated_supervised_task(seed: int = 0, law_error: float = 0.0) -> Task:
    runs = simulate_paper_design(noise=0.01, seed=seed, law_error=law_error).to_dataframe().reset_index()
    runs = runs[runs["kind"] == "supervised"][["run", "kind", "N", "D", "loss"]]
    small = runs["N"] <= 1.3e9
    return Task("sim-supervised", runs[small].reset_index(drop=True), runs[~small].reset_index(drop=True), 15)


def simulated_distilled_task(question: tuple | None = None, seed: int = 0, law_error: float = 0.0) -> Task:
    """The paper's distilled runs (PAPER_RECOVERY, 1% noise, ``law_error`` per size); pool: students up to 1.82B,
    target: the larger. For the target runs, the supervised law is fixed at the fit of the design's 71 supervised
    runs (as the paper fits it first). For a question, the supervised runs are fitted with the pool's in every fit:
    a crossover compares distillation with supervised training, and holding the supervised law fixed leaves its
    uncertainty out of the answer (``experiments/fixed_supervised_crossover.py``)."""
    runs = simulate_paper_design(PAPER_RECOVERY, noise=0.01, seed=seed,
                                 law_error=law_error).to_dataframe().reset_index()
    columns = ["run", "kind", "N", "D", "loss", "teacher_loss", "teacher_N", "teacher_D"]
    supervised, distilled = runs[runs["kind"] == "supervised"][columns], runs[runs["kind"] == "distilled"][columns]
    small = distilled["N"] <= DISTILLED_POOL_MAX_N
    pool, target = distilled[small].reset_index(drop=True), distilled[~small].reset_index(drop=True)
    if question is None:
        first = quiet_fit(supervised)
        return Task("sim-distilled", pool, target, 23, {c: float(first.posterior[c].median())
                                                         for c in SUPERVISED_COEFFICIENTS})
    return Task("sim-crossover", pool, target, 23, None, question, true_crossover(question, pool), supervised)


def true_crossover(question: tuple, pool: pd.DataFrame) -> float:
    """log10 of the crossover budget (FLOPs) of the simulation's law, on the compute range a fit of the pool
    searches."""
    _, N_S, scenario = question
    scale = bd.posterior.scale.planning_scale(bd.load_runs(pool), PAPER_ARCHITECTURE)
    compute = plan_crossover(N_S, scenario, PAPER_RECOVERY, scale.compute_range, bounds=scale.bounds,
                             arch=PAPER_ARCHITECTURE)["compute"].values
    return float(np.log10(np.clip(compute, *scale.compute_range)).squeeze())


def crossover_crps(rows: Path, level: float) -> pd.DataFrame:
    """The crossover rows' (``--out``) CRPS of log10 C* at ``level`` by simulation (rows) and method (columns),
    a method's seeds averaged."""
    table = pd.read_csv(rows)
    table = table[(table["task"] == "sim-crossover") & (table["level"] == level)]
    return table.groupby(["sim_seed", "method"])["crps"].mean().unstack("method")


def quiet_fit(runs: pd.DataFrame, fix: dict[str, float] | None = None) -> bd.Posterior:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd.fit(runs, chains=2, draws=DRAWS, warmup=DRAWS, seed=0, fix=fix)


def predictive(post: bd.Posterior, table: pd.DataFrame) -> xr.DataArray:
    """The posterior predictive loss (nats/token) of a table of one kind's runs; (chain, draw, point)."""
    if (table["kind"] == "distilled").all():
        return post.predict(N_S=table["N"].values, D_S=table["D"].values, L_T=table["teacher_loss"].values,
                            noise=True)
    return post.predict(table["N"].values, table["D"].values, noise=True)


def scores(post: bd.Posterior, task: Task) -> dict[str, float]:
    """R^2, mean relative error, 90% coverage and median 90% width of the target's predictive; for a question,
    the error, coverage and width of its answer (decades of FLOPs for a crossover)."""
    if task.question is not None:
        return question_scores(post, task)
    target = task.target
    low, median, high = predictive(post, target).quantile([0.05, 0.5, 0.95], dim=("chain", "draw")).values
    loss = target["loss"].values
    return {"r2": 1 - np.sum((median - loss) ** 2) / np.sum((loss - loss.mean()) ** 2),
            "rel_error": float(np.mean(np.abs(median - loss) / loss)),
            "cover90": float(np.mean((low <= loss) & (loss <= high))),
            "width90": float(np.median((high - low) / loss))}


def question_scores(post: bd.Posterior, task: Task) -> dict[str, float]:
    """The answer's absolute error (posterior median against the truth), 90% coverage and width, and its CRPS
    against the truth, in log10 FLOPs. The median of a two-moded answer jumps between its modes; the CRPS counts the
    mass near the truth, whichever mode the median sits in."""
    _, N_S, scenario = task.question
    answer = post.crossover(N_S, scenario)
    bounds = answer.attrs["compute_range_lower"], answer.attrs["compute_range_upper"]
    log_compute = np.log10(np.clip(answer["compute"], *bounds))
    low, median, high = log_compute.quantile([0.05, 0.5, 0.95], dim=("chain", "draw")).values.ravel()
    return {"r2": np.nan, "rel_error": float(abs(median - task.truth)), "cover90": float(low <= task.truth <= high),
            "width90": float(high - low), "crps": crps(log_compute.values, task.truth)}


def within_budget(order: list[str], cost: pd.Series, budget: float) -> list[str]:
    """The runs of ``order`` taken one by one while each fits what is left of ``budget`` (FLOPs)."""
    picked, left = [], budget
    for run in order:
        if cost[run] <= left:
            picked.append(run)
            left -= cost[run]
    return picked


def point_estimate(post: bd.Posterior) -> xr.Dataset:
    """The posterior median of every coefficient, as a single draw (chain 1, draw 1)."""
    return post.params().median(("chain", "draw")).expand_dims(chain=1, draw=1)


def law_jacobian(post: bd.Posterior, params: xr.Dataset, table: pd.DataFrame) -> np.ndarray:
    """d log L / d coefficient at ``params`` (one draw) for a table of one kind's runs; (run, coefficient)."""
    kind = "distilled" if (table["kind"] == "distilled").all() else "supervised"
    inputs = (table["N"].values, table["D"].values)
    if kind == "distilled":
        inputs += (table["teacher_loss"].values,)
    return log_loss_jacobian(kind, params, post.free_coefficients, inputs)[0, 0]


def crossover_jacobian(post: bd.Posterior, params: xr.Dataset, question: tuple) -> np.ndarray:
    """d log10 C* / d coefficient at ``params`` (one draw), by central differences in the coordinates of
    ``log_loss_jacobian`` (the log of a positive coefficient); (1, coefficient). All shifts as draws of one
    planner call."""
    _, N_S, scenario = question
    names, step = post.free_coefficients, 1e-3
    shifted = []
    for name in names:
        logged = bool(np.all(params[name].values > 0))
        for sign in (1, -1):
            value = params[name] * np.exp(sign * step) if logged else params[name] + sign * step
            shifted.append(params.assign({name: value}))
    draws = xr.concat(shifted, dim="draw")
    scale = post.scale
    compute = plan_crossover(N_S, scenario, draws, scale.compute_range, bounds=scale.bounds,
                             arch=post.architecture)["compute"]
    log_compute = np.log10(np.clip(compute.values.reshape(len(names), 2), *scale.compute_range))
    return ((log_compute[:, 0] - log_compute[:, 1]) / (2 * step))[None, :]


def fisher_information(post: bd.Posterior, params: xr.Dataset, runs: pd.DataFrame) -> np.ndarray:
    """J^T J / sigma^2 of one kind's runs on the linearisation at ``params``; (coefficient, coefficient)."""
    jacobian = law_jacobian(post, params, runs)
    return jacobian.T @ jacobian / float(post.posterior[f"sigma_{runs['kind'].iloc[0]}"].median()) ** 2


def linearised_greedy(post: bd.Posterior, fitted: pd.DataFrame, left: pd.DataFrame, task: Task, budget: float,
                      criterion: str) -> list[str]:
    """D- or V-optimal picks per FLOP on the linearisation at the posterior median: information J^T J / sigma^2 of
    the fitted runs (plus a small ridge), updated by each pick. V: the target's mean variance (its runs' log
    losses, or the question's answer)."""
    params, names = point_estimate(post), post.free_coefficients
    left_jacobian = law_jacobian(post, params, left)
    target_jacobian = (crossover_jacobian(post, params, task.question) if task.question is not None
                       else law_jacobian(post, params, task.target))
    noise = float(post.posterior[f"sigma_{left['kind'].iloc[0]}"].median()) ** 2
    fitted = pd.concat([task.given, fitted]) if task.given is not None else fitted
    information = sum(fisher_information(post, params, runs) for _, runs in fitted.groupby("kind"))
    covariance = np.linalg.inv(information + 1e-6 * np.eye(len(names)))
    picked, spent, runs, cost = [], 0.0, left["run"].values, task.cost
    while True:
        j = left_jacobian
        variance = np.einsum("ck,kl,cl->c", j, covariance, j)
        if criterion == "d":
            gain = np.log1p(variance / noise)
        else:
            gain = np.mean((target_jacobian @ covariance @ j.T) ** 2, axis=0) / (variance + noise)
        score = np.where([r not in picked and spent + cost[r] <= budget for r in runs], gain / cost[runs].values, -1)
        best = int(np.argmax(score))
        if score[best] <= 0:
            return picked
        picked.append(runs[best])
        spent += cost[runs[best]]
        row = covariance @ j[best]
        covariance = covariance - np.outer(row, row) / (variance[best] + noise)


Method = Callable[[bd.Posterior, pd.DataFrame, pd.DataFrame, Task, float, np.random.Generator], list[str]]


def pick_ours(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001 - one signature for all
    target = task.question if task.question is not None else task.target.drop(columns="loss")
    out = post.suggest_runs(left.drop(columns="loss"), target, budget, cost=task.cost[left["run"]].values)
    return [str(c) for c in out["candidate"].values[out["selected"].values]]


def in_rounds(plan: Method, post: bd.Posterior, fitted: pd.DataFrame, left: pd.DataFrame, task: Task,
              budget: float, rng: np.random.Generator) -> list[str]:
    """A method as the loop runs it (``Design``): each round ``plan`` orders the batch for all the budget left, the
    round trains its head that fits ``task.round_share`` of the pool's cost (at least one run), then refits (the last
    refit is the level's). A receding horizon: each round plans on all that the rounds before revealed."""
    picked: list[str] = []
    while True:
        remaining = left[~left["run"].isin(picked)]
        budget_left = budget - float(task.cost[picked].sum())
        if not len(remaining) or not (task.cost[remaining["run"]] <= budget_left).any():
            return picked
        trained = pd.concat([fitted, left[left["run"].isin(picked)]])
        if picked:  # the rounds before, fitted
            post = task.fit(trained)
        head = batch_head(plan(post, trained, remaining, task, budget_left, rng),
                          lambda runs: float(task.cost[runs].sum()), task.round_share * task.cost.sum())
        if not head:
            return picked
        picked += head


def ours_in_order(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    """``suggest_runs``' batch, in the order it picked its runs."""
    target = task.question if task.question is not None else task.target.drop(columns="loss")
    ranked = post.suggest_runs(left.drop(columns="loss"), target, budget, cost=task.cost[left["run"]].values)
    return picked_in_order(ranked)


def pick_ours_rounds(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201
    return in_rounds(ours_in_order, post, fitted, left, task, budget, rng)


def pick_v_rounds(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201
    """V-optimal in the loop's rounds: its greedy order (the order it picked) is the batch's."""
    return in_rounds(pick_v, post, fitted, left, task, budget, rng)


def pick_random(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return within_budget(list(rng.permutation(left["run"].values)), task.cost, budget)


def pick_cheapest(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return within_budget(list(task.cost[left["run"]].sort_values().index), task.cost, budget)


def pick_largest(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    by_size = left.assign(cost=task.cost[left["run"]].values).sort_values(["N", "cost"], ascending=[False, True])
    return within_budget(list(by_size["run"]), task.cost, budget)


def pick_d(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return linearised_greedy(post, fitted, left, task, budget, "d")


def pick_v(post, fitted, left, task, budget, rng):  # noqa: ANN001, ANN201, ARG001
    return linearised_greedy(post, fitted, left, task, budget, "v")


METHODS: dict[str, Method] = {"ours": pick_ours, "ours-rounds": pick_ours_rounds, "random": pick_random,
                              "cheapest": pick_cheapest, "largest-first": pick_largest, "d-optimal": pick_d,
                              "v-optimal": pick_v, "v-optimal-rounds": pick_v_rounds}


def run_method(task: Task, method: str, levels: list[float], seed: int) -> list[dict]:
    """One method on one task: the start, then each level's batch (its run ids in ``picked``), refit and scores."""
    rng = np.random.default_rng(seed)
    cost, fitted = task.cost, task.start
    start_cost = float(cost[fitted["run"]].sum())
    post, rows = task.fit(fitted), []
    for level in levels:
        left = task.pool[~task.pool["run"].isin(fitted["run"])]
        budget = start_cost + level * cost.sum() - float(cost[fitted["run"]].sum())
        picked = METHODS[method](post, fitted, left, task, budget, rng) if budget > 0 and len(left) else []
        fitted = pd.concat([fitted, left[left["run"].isin(picked)]])
        post = task.fit(fitted)
        rows.append({"task": task.name, "method": method, "seed": seed, "level": level, "runs": len(fitted),
                     "spent": float(cost[fitted["run"]].sum() - start_cost) / cost.sum(), **scores(post, task),
                     "picked": " ".join(map(str, picked))})
    return rows


def whole_pool(task: Task) -> dict:
    """The reference: the fit of the whole pool, scored on the target."""
    fitted = task.pool
    return {"task": task.name, "method": "whole pool", "seed": 0, "level": 1.0, "runs": len(fitted), "spent": 1.0,
            **scores(task.fit(fitted), task)}


def ranking_speed(candidates: int = 1000) -> None:
    """Seconds to rank ``candidates`` supervised and distilled candidates (half with a teacher still to train)
    against a 4,000-draw joint posterior, against the seconds of predicting their losses (the same run's
    reference)."""
    runs = simulate_paper_design(noise=0.01, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bd.fit(runs, chains=4, draws=1000, warmup=500, seed=0, extend=False)  # 4,000 draws exactly
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e8), np.log(5e9), candidates))
    kind = np.where(np.arange(candidates) % 2 == 0, "supervised", "distilled")
    table = pd.DataFrame({"kind": kind, "N": N, "D": N * np.exp(rng.uniform(np.log(10), np.log(300), candidates)),
                          "teacher_loss": np.where(np.arange(candidates) % 4 == 1, 2.2, np.nan),
                          "teacher_N": np.where(kind == "distilled", 7e9, np.nan),
                          "teacher_D": np.where(kind == "distilled", 1.4e11, np.nan)})
    target = pd.DataFrame({"kind": "supervised", "N": [1e10, 3e10], "D": [2e11, 6e11]})
    start = time.perf_counter()
    post.predict(table["N"].values, table["D"].values)
    reference = time.perf_counter() - start
    start = time.perf_counter()
    post.suggest_runs(table, target, budget=1e22)
    ranking = time.perf_counter() - start
    print(f"ranking {candidates} candidates against {post.draw_count} draws: {ranking:.2f} s "
          f"({ranking / reference:.0f}x predicting their supervised losses, {reference:.3f} s)")


GADRE_TASKS: dict[str, Callable[[int, float], Task]] = {
    gadre_task_name(dataset, evaluation):
        lambda seed, law_error, dataset=dataset, evaluation=evaluation: gadre_task(dataset, evaluation)
    for dataset in GADRE_TRAINING_SETS for evaluation in GADRE_EVALUATIONS}
# name -> the task of a simulation seed and law error (a Gadre et al. task has one of each: its own)
TASKS: dict[str, Callable[[int, float], Task]] = {
    **GADRE_TASKS, "sim-supervised": simulated_supervised_task,
    "sim-distilled": lambda seed, law_error: simulated_distilled_task(seed=seed, law_error=law_error),
    "sim-crossover": lambda seed, law_error: simulated_distilled_task(CROSSOVER, seed, law_error)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=[*GADRE_TRAINING_SETS, "sim-supervised", "sim-distilled",
                                                     "sim-crossover"], choices=[*TASKS, "gadre"], metavar="TASK",
                    help=f"a Gadre et al. training set ({', '.join(GADRE_TRAINING_SETS)}) scored on C4, or on a "
                         f"validation set as <training set>/<validation set> ({', '.join(list(GADRE_EVALUATIONS)[1:])}"
                         "); 'gadre' for all 24; sim-supervised, sim-distilled, sim-crossover. Default: the three "
                         "on C4 and the simulated tasks")
    ap.add_argument("--levels", nargs="+", type=float, default=[0.01, 0.02, 0.05, 0.1])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--random-seeds", type=int, default=5)
    ap.add_argument("--sim-seeds", type=int, default=1, help="simulations (noise seeds) of each sim-* task")
    ap.add_argument("--first-sim-seed", type=int, default=0,
                    help="the first simulation's seed (default 0): more simulations extend a suite, not repeat it")
    ap.add_argument("--law-error", type=float, default=0.0,
                    help="sim-supervised's and sim-distilled's law error: each size's log-loss offset from the law "
                         "is drawn from Normal(0, this), as the model assumes (default 0: the law exact but for the "
                         "noise)")
    ap.add_argument("--finished-warmup", action="store_true",
                    help="Gadre et al. tasks: leave out of the pool the runs that stopped inside their learning-rate "
                         "warm-up (53M and 360M parameters at M = 5, one each per training set)")
    ap.add_argument("--round-share", type=float, default=ROUND_SHARE,
                    help=f"ours-rounds and v-optimal-rounds: a round's budget as a share of the pool's cost (default "
                         f"{ROUND_SHARE})")
    ap.add_argument("--out", type=Path, help="a CSV to write every row to")
    ap.add_argument("--speed", action="store_true", help="only time the ranking of 1,000 candidates")
    args = ap.parse_args()
    unerred = sorted(set(args.tasks) - {"sim-supervised", "sim-distilled"})
    if args.law_error and unerred:
        # The Gadre et al. runs have the law error they have, and the crossover's truth is the law's own.
        ap.error(f"--law-error {args.law_error} applies to sim-supervised and sim-distilled only; not to {unerred}")
    not_gadre = sorted(set(args.tasks) - {*GADRE_TASKS, "gadre"})
    if args.finished_warmup and not_gadre:
        ap.error(f"--finished-warmup applies to the Gadre et al. tasks only; not to {not_gadre}")
    if args.speed:
        ranking_speed()
        return
    rows = []
    for name in [task for given in args.tasks for task in (GADRE_TASKS if given == "gadre" else [given])]:
        simulations = args.sim_seeds if name.startswith("sim-") else 1
        for sim_seed in range(args.first_sim_seed, args.first_sim_seed + simulations):
            task = TASKS[name](sim_seed, args.law_error)
            task = replace(finished_warmup(task) if args.finished_warmup else task, round_share=args.round_share)
            rows += run_task(task, sim_seed, args, rows)
    table = pd.DataFrame(rows)
    scored = ["runs", "spent", "r2", "rel_error", "cover90", "width90", *(["crps"] if "crps" in table else [])]
    summary = table.groupby(["task", "level", "method"])[scored]
    print(summary.mean().round(4).to_string())
    for baseline in ("random", "v-optimal"):
        if baseline in args.methods and len(args.methods) > 1:
            print(paired_gaps(table, baseline).round(4).to_string())
            if "crps" in table:
                print(paired_gaps(table, baseline, "crps").round(4).to_string())


def run_task(task: Task, sim_seed: int, args: argparse.Namespace, done: list[dict]) -> list[dict]:
    """Every method on one task (random with its seeds) and the whole pool's fit, rows marked with the task's
    simulation seed; the rows so far are written to ``args.out`` after each method, so that a stopped benchmark
    keeps what it measured."""
    print(f"{task.name}: pool {len(task.pool)} runs ({task.cost.sum():.2e} FLOPs), target {len(task.target)} runs",
          flush=True)
    rows = [{**whole_pool(task), "sim_seed": sim_seed}]
    for method in args.methods:
        for seed in range(args.random_seeds if method == "random" else 1):
            start = time.perf_counter()
            rows += [{**row, "sim_seed": sim_seed} for row in run_method(task, method, args.levels, seed)]
            print(f"  {method} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
            if args.out:
                with atomic_path(args.out) as path:
                    pd.DataFrame(done + rows).to_csv(path, index=False)
    return rows


def paired_gaps(table: pd.DataFrame, baseline: str, score: str = "rel_error") -> pd.DataFrame:
    """Each method's ``score`` (by default the mean relative error; ``crps`` for a question) less ``baseline``'s
    (random: the mean of its seeds) on the same task and simulation, averaged over a suite (the Gadre et al. tasks,
    or one simulated task's simulations), with its standard error, the share of the suite's tasks where the method
    was better and where it tied (the same picks), and the two-sided p-value of Wilcoxon's signed-rank test that the
    gaps centre on 0 (a mean over a few tasks with one large miss says little alone)."""
    rows = table[table["method"] != "whole pool"]
    error = rows.groupby(["task", "level", "sim_seed", "method"])[score].mean().unstack("method")
    gap = error.drop(columns=baseline).sub(error[baseline], axis=0).stack().rename("gap").reset_index()
    gap["suite"] = np.where(gap["task"].isin(list(GADRE_TASKS)), "gadre", gap["task"])
    grouped = gap.groupby(["suite", "level", "method"])["gap"]
    return pd.DataFrame({"units": grouped.size(), f"{score}_gap_to_{baseline}": grouped.mean(),
                         "standard_error": grouped.sem(), "better_share": grouped.apply(lambda g: np.mean(g < 0)),
                         "tied_share": grouped.apply(lambda g: np.mean(g == 0)),
                         "wilcoxon_p": grouped.apply(signed_rank_p)})


def gaps_of(table: pd.DataFrame, method: str, score: str = "rel_error", scale: float = 1.0) -> pd.DataFrame:
    """``method``'s ``score`` less each other method's, paired as ``paired_gaps`` pairs them (negative: ``method``
    better), times ``scale`` (100: points of relative error); ``method_better_share`` is the share of the suite where
    ``method`` was better, ``method_less`` the mean gap."""
    gaps = paired_gaps(table, method, score)
    gaps[f"{score}_gap_to_{method}"] *= -scale
    gaps["standard_error"] *= scale
    gaps["better_share"] = 1 - gaps["better_share"] - gaps["tied_share"]
    gaps = gaps.rename(columns={f"{score}_gap_to_{method}": f"{method}_less", "better_share": f"{method}_better_share"})
    return gaps.dropna(subset=[f"{method}_less"])


def signed_rank_p(gaps: pd.Series) -> float:
    """The two-sided p-value of Wilcoxon's signed-rank test on paired gaps; tied pairs (a gap of exactly 0: both
    methods picked the same runs) carry no sign and are left out, as Wilcoxon's test does; 1 when none is left."""
    untied = gaps[gaps != 0].to_numpy()
    return float(wilcoxon(untied).pvalue) if untied.size else 1.0


if __name__ == "__main__":
    main()
