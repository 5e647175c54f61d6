"""Mutation testing of the course's hand-written numerics (mutmut 3), module by module.

    python benchmarks/mutation.py                       # every module below (make mutation)
    python benchmarks/mutation.py conv_arithmetic dropout   # or MODULES="..." make mutation
    python benchmarks/mutation.py --baseline            # record the run as the "before" numbers
    python benchmarks/mutation.py --report              # rewrite mutation.md from mutation.json

For each module mutmut copies the tree into ``mutants/`` (ignored by git), writes every mutant of
the module's functions and methods into it, runs the module's own test files once to learn which
test calls which function, then runs each mutant against only the tests that call its function:
a mutant is *killed* when one of them fails. Shared settings live in ``pyproject.toml``
(``[tool.mutmut]``: the fork server, timeouts, pytest's flags); this script sets, per module,
the file to mutate and its test files, and runs one mutant at a time (run it under
``nice -n 19`` on a shared machine). After a module's run, each survivor of the baseline run
that a new test targets (``KILLED_BY``) is run again against that test alone, to show that the
test kills it. Results: ``benchmarks/results/mutation.json`` (counts, times, every mutant not
killed with its diff, the verifications) and ``mutation.md`` (tables, each mutant not killed with
its reason, each survivor of the baseline with the test that kills it now).

The score is ``(killed + timeout) / (mutants - equivalent)``: a mutant no test can tell from
the original (``EQUIVALENT`` below, each with why) cannot be killed and is not counted.
About an hour for the 1,615 mutants on 2 cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine  # noqa: E402 - benchmarks/machine.py, beside this file

SEP = "\u01c1"  # mutmut's separator in a method's name: xǁClassǁmethod


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    path: str                        # the file mutated
    tests: tuple[str, ...]           # the test files run against it
    functions: tuple[str, ...] = ()  # mutmut name globs within the file; () = all of it
    what: str = ""

    @property
    def module(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def globs(self) -> list[str]:
        return [f"{self.module}.{pattern}" for pattern in self.functions]


def _methods(*classes: str) -> tuple[str, ...]:
    return tuple(f"x{SEP}{cls}{SEP}*" for cls in classes)


TARGETS = (
    Target("conv_arithmetic", "course/conv_arithmetic.py",
           ("tests/test_conv_arithmetic.py", "tests/test_widgets.py"),
           what="output sizes, parameters, receptive fields, padding, the cells an output reads"),
    Target("convolution", "course/convolution.py", ("tests/test_convolution.py",),
           what="im2col, FFT and Winograd convolutions, stochastic rounding"),
    Target("batchnorm", "course/layers/batchnorm.py", ("tests/test_batchnorm_dropout.py",),
           what="batch normalization written out (Ioffe & Szegedy, Algorithm 1)"),
    Target("fused_batchnorm", "course/layers/fused_batchnorm.py",
           ("tests/test_fused_batchnorm.py", "tests/test_batchnorm_dropout.py"),
           what="batch normalization as TensorFlow's fused kernel"),
    Target("dropout", "course/layers/dropout.py", ("tests/test_batchnorm_dropout.py",),
           what="inverted dropout"),
    Target("whitening", "course/layers/whitening.py", ("tests/test_whitening.py",),
           what="patch whitening (ZCA/PCA of k x k patches) as a frozen convolution"),
    Target("preprocessing_normalisation", "course/preprocessing.py",
           ("tests/test_preprocessing.py",),
           _methods("_FittedStatistics", "MeanImageSubtraction", "PerChannelMeanSubtraction",
                    "PerChannelStandardization", "PerImageStandardization"),
           what="mean subtraction, per-channel and per-image standardisation (not the "
                "augmentation layers of the same file)"),
    Target("grading_values", "course/grading/checks/values.py", ("tests/test_exercise_checks.py",),
           what="exercise checks: cases, gradient check, counting products"),
    Target("grading_helpers", "course/grading/checks/helpers.py",
           ("tests/test_exercise_checks.py",),
           what="exercise checks: calling the student's code, messages, check_array"),
)

# Mutants that behave like the original on every input the function accepts: a piece of the
# mutant's '+' line (to notice a renumbering) and why no test can tell it from the original.
CA = "course.conv_arithmetic."
CV = "course.convolution."
BN = "course.layers.batchnorm.xǁBatchNormǁ"
FB = "course.layers.fused_batchnorm.xǁFusedBatchNormalizationǁ"
DO = "course.layers.dropout.xǁInvertedDropoutǁ"
WH = "course.layers.whitening."
PW = WH + "xǁPatchWhiteningǁ"
PP = "course.preprocessing."
GV = "course.grading.checks.values."
GH = "course.grading.checks.helpers."

_SAME_IS_GENERAL = ("for 'same' the general path (padding_amounts, then a valid window) gives "
                    "ceil(n / stride) too")
_ONLY_SAME = "padding_amounts reads n, kernel, stride and dilation only for 'same', never here"
_UPPER = "einsum reads upper-case subscripts as labels like lower-case ones"
_FLOAT64 = "astype(None) is astype(float64)"
_BOOL = "Keras keeps bool(trainable): None is False"
_FLOATX = "ops.cast(t, None) casts to floatx(), float32, as the original does"
_DESCRIBES = "call_checked describes the call itself when not told: the same text"
_RELATIVE = ("relative_error converts both to float64; shape and finiteness do not depend on "
             "the dtype")
_OTHER_FLOAT64 = "the other operand is float64: NumPy subtracts and adds in float64 anyway"
_GOT_FLOAT64 = ("got is float64, so the differences are; a float32 expected only rounds the "
                "allowance rtol x |expected| to 1e-7 of itself")

EQUIVALENT: dict[str, tuple[str, str]] = {
    # conv_arithmetic
    CA + "x_conv_output_size__mutmut_8": ('"XXsameXX"', _SAME_IS_GENERAL),
    CA + "x_conv_output_size__mutmut_9": ('"SAME"', _SAME_IS_GENERAL),
    CA + "x_conv_output_size__mutmut_19": ("padding_amounts(None,", _ONLY_SAME),
    CA + "x_conv_output_size__mutmut_20": ("padding_amounts(n, None,", _ONLY_SAME),
    CA + "x_conv_output_size__mutmut_21": ("padding_amounts(n, kernel, None,", _ONLY_SAME),
    CA + "x_conv_output_size__mutmut_23": ("padding, None)", _ONLY_SAME),
    CA + "x_conv_output_size__mutmut_28": ("padding, )", _ONLY_SAME + " (default dilation 1)"),
    CA + "x_conv_output_size__mutmut_36": ("stride, )", "output_size's default padding is the 0 "
                                           "passed"),
    CA + "x_input_cells__mutmut_24": ("n or 1", "n is None only without 'same' padding, where "
                                      "padding_amounts ignores it"),
    CA + "x_stack_input_span__mutmut_15": ("padding, )[0]", "the first cell does not depend on "
                                           "the dilation with numeric padding (the only kind "
                                           "stack_input_span takes)"),
    # convolution
    CV + "x__pad__mutmut_2": ("or True", "np.pad by 0 pixels copies the array unchanged"),
    CV + "x_accumulate__mutmut_3": ("seed: int = 1", "another fixed default seed: as "
                                    "reproducible, another stream (no stream is promised)"),
    CV + "x_conv2d_fft__mutmut_14": ("w.shape[1]", "square kernels (kernel x kernel, the module's "
                                     "convention, as im2col and Winograd)"),
    CV + "x_conv2d_fft__mutmut_18": ("s=None", "rfft2's default size is the input's, (H, W)"),
    CV + "x_conv2d_fft__mutmut_21": ("rfft2(x, axes", "rfft2's default size is the input's, "
                                     "(H, W)"),
    CV + "x_conv2d_fft__mutmut_46": ('"NHWC,HWCO->NHWO"', _UPPER),
    CV + "x_conv2d_winograd__mutmut_39": ('"IJ,JKCO,LK->ILCO"', _UPPER),
    CV + "x_conv2d_winograd__mutmut_63": ('"IJ,NABCJK,LK->NABCIL"', _UPPER),
    CV + "x_conv2d_winograd__mutmut_72": ('"NABCIJ,IJCO->NABIJO"', _UPPER),
    CV + "x_conv2d_winograd__mutmut_83": ('"IJ,NABJKO,LK->NABILO"', _UPPER),
    CV + "x_conv2d_winograd__mutmut_111": ("-2)", "NumPy infers any negative size in reshape"),
    **{CV + f"x_conv2d_winograd__mutmut_{n}": (snippet, "the transform matrices are float64: "
                                               "every einsum computes in float64 whatever the "
                                               "dtype of x or w")
       for n, snippet in ((3, "asarray(x, None)"), (5, "asarray(x, )"), (7, "asarray(w, None)"),
                          (9, "asarray(w, )"))},
    CV + "x_multiplications__mutmut_15": ("(h_out / 2)", "output sides are even (the exercise's "
                                          "premise, conv2d_winograd's requirement)"),
    CV + "x_multiplications__mutmut_17": ("(w_out / 2)", "output sides are even (the exercise's "
                                          "premise, conv2d_winograd's requirement)"),
    CV + "x_stochastic_round__mutmut_17": ("astype(None)", _FLOAT64),
    CV + "x_stochastic_round__mutmut_33": ("astype(None)", _FLOAT64),
    CV + "x_stochastic_round__mutmut_34": ("astype(None)", _FLOAT64),
    CV + "x_stochastic_round__mutmut_45": ("astype(None)", _FLOAT64),
    CV + "x_stochastic_round__mutmut_18": (">= x", "x exactly representable: low is the number "
                                           "below, p_up is 1 and x comes back, as before"),
    CV + "x_stochastic_round__mutmut_38": ("out=None", "the division is skipped only where high "
                                           "equals low (infinities), so either pick is the same"),
    CV + "x_stochastic_round__mutmut_42": ("where=gap > 0)", "the division is skipped only where "
                                           "high equals low (infinities)"),
    CV + "x_stochastic_round__mutmut_43": ("zeros_like(x), )", "gap is never 0 between distinct "
                                           "float16 neighbours; NaN where both are infinite "
                                           "picks low = high"),
    CV + "x_stochastic_round__mutmut_47": ("gap >= 0", "gap is never 0 between distinct float16 "
                                           "neighbours"),
    CV + "x_stochastic_round__mutmut_57": ("<= p_up", "a uniform draw equals p_up with "
                                           "probability 0"),
    # batchnorm
    BN + "build__mutmut_37": ("trainable=None", _BOOL),
    BN + "build__mutmut_49": ("trainable=None", _BOOL),
    # fused_batchnorm: arguments whose TensorFlow default is the value passed
    FB + "call__mutmut_27": ('tf.ones((channels,), )', "tf.ones defaults to float32"),
    FB + "call__mutmut_42": ('tf.zeros((channels,), )', "tf.zeros defaults to float32"),
    FB + "call__mutmut_82": ('tf.zeros((0,), )', "tf.zeros defaults to float32"),
    FB + "call__mutmut_89": ('tf.zeros((0,), )', "tf.zeros defaults to float32"),
    FB + "call__mutmut_83": ("tf.zeros((1,)", "in training with exponential_avg_factor 1 the op "
                             "ignores its mean input"),
    FB + "call__mutmut_90": ("tf.zeros((1,)", "in training with exponential_avg_factor 1 the op "
                             "ignores its variance input"),
    FB + "call__mutmut_67": ("exponential_avg_factor=None", "the op's default factor is 1"),
    FB + "call__mutmut_76": ('data_format="NHWC", is_training=True', "the op's default factor "
                             "is 1"),
    FB + "call__mutmut_135": ("exponential_avg_factor=None", "the factor only applies in "
                              "training"),
    FB + "call__mutmut_144": ('epsilon=self.epsilon, data_format', "the factor only applies in "
                              "training"),
    FB + "call__mutmut_147": ("exponential_avg_factor=2.0", "the factor only applies in "
                              "training"),
    FB + "call__mutmut_68": ("data_format=None", "the op's default layout is NHWC"),
    FB + "call__mutmut_77": ("exponential_avg_factor=1.0, is_training=True", "the op's default "
                             "layout is NHWC"),
    FB + "call__mutmut_136": ("data_format=None", "the op's default layout is NHWC"),
    FB + "call__mutmut_145": ("            is_training=False)", "the op's default layout is "
                              "NHWC"),
    FB + "call__mutmut_78": ('data_format="NHWC", )', "the op trains by default"),
    FB + "call__mutmut_102": ("tf.size(inputs) / channels", "the size is a multiple of the "
                              "channels: the same count"),
    FB + "call__mutmut_115": ("tf.maximum(count, 2.0)", "(count - 1) is 0 when count is 1, so "
                              "dividing by 1 or 2 gives the same"),
    FB + "fuses__mutmut_4": ('"renorm", None)', "the default is read only without the attribute "
                             "(Keras 3.13), and None is false like False"),
    # dropout
    DO + "call__mutmut_11": ("> self.rate", "a uniform draw equals the rate with probability 0"),
    DO + "call__mutmut_4": ("self.rate == 1", "rate 0 then keeps every unit and divides by 1 (the "
                            "identity, as the shortcut), and rate 1 is refused"),
    # whitening
    WH + "x_image_patches__mutmut_39": ("reshape(-2,", "NumPy infers any negative size in "
                                        "reshape"),
    PW + "adapt__mutmut_3": ("dtype=None)", "image_patches converts the images to float32"),
    PW + "adapt__mutmut_5": ("np.asarray(images, )", "image_patches converts the images to "
                             "float32"),
    PW + "adapt__mutmut_12": ("astype(None)", _FLOAT64),
    PW + "adapt__mutmut_45": ("astype(None)", "a float32 variable takes float64 values as "
                              "float32"),
    PW + "build__mutmut_15": ("trainable=None", _BOOL),
    PW + "call__mutmut_9": ("strides=None", "TensorFlow's convolution, which keras.ops.conv "
                            "calls, reads strides=None as 1"),
    PW + "call__mutmut_13": ("ops.conv(x, kernel, padding", "keras.ops.conv's default strides "
                             "are 1"),
    PW + "call__mutmut_14": ("strides=1, )", "keras.ops.conv's default padding is 'valid'"),
    PW + "call__mutmut_17": ('"VALID"', "keras.ops.conv lower-cases the padding"),
    # preprocessing (normalisation)
    PP + "xǁPerImageStandardizationǁcall__mutmut_3": ("ops.cast(x, None)", _FLOATX),
    PP + "xǁPerImageStandardizationǁcall__mutmut_10": ("None)", _FLOATX),
    PP + "xǁ_FittedStatisticsǁadapt__mutmut_1": ("batch_size: int = 1025", "sums over batches "
                                                 "do not depend on the batch size"),
    PP + "xǁ_FittedStatisticsǁadapt__mutmut_61": ("astype(None)", "a float32 variable takes "
                                                  "float64 values as float32"),
    PP + "xǁ_FittedStatisticsǁadapt__mutmut_75": ("astype(None)", "a float32 variable takes "
                                                  "float64 values as float32"),
    PP + "xǁ_FittedStatisticsǁbuild__mutmut_6": ("trainable=None", _BOOL),
    PP + "xǁ_FittedStatisticsǁbuild__mutmut_20": ("trainable=None", _BOOL),
    # grading checks
    GV + "x_check_cases__mutmut_13": ("kwargs, None)", _DESCRIBES),
    GV + "x_check_cases__mutmut_17": ("kwargs, )", _DESCRIBES),
    GV + "x_check_gradient__mutmut_5": ("asarray(analytic, None)", _RELATIVE),
    GV + "x_check_gradient__mutmut_7": ("asarray(analytic, )", _RELATIVE),
    GV + "x_check_gradient__mutmut_10": ("asarray(numeric, None)", _RELATIVE),
    GV + "x_check_gradient__mutmut_12": ("asarray(numeric, )", _RELATIVE),
    GV + "x_relative_error__mutmut_3": ("asarray(a, None)", _OTHER_FLOAT64),
    GV + "x_relative_error__mutmut_5": ("asarray(a, )", _OTHER_FLOAT64),
    GV + "x_relative_error__mutmut_7": ("asarray(b, None)", _OTHER_FLOAT64),
    GV + "x_relative_error__mutmut_9": ("asarray(b, )", _OTHER_FLOAT64),
    GH + "x_check_array__mutmut_14": ("dtype=None)", _GOT_FLOAT64),
    GH + "x_check_array__mutmut_16": ("asarray(expected, )", _GOT_FLOAT64),
}

# Survivors that are neither equivalent nor worth a test, and why.
NOT_KILLED: dict[str, str] = {
    GV + "x_check_gradient__mutmut_26": "`>=`: an error exactly equal to the bar (a float that "
    "lands exactly on 1e-7) fails instead of passing; the docstring says 'below', the code "
    "'not above', and neither is wrong enough to pin down",
}

# The tests added (issue 34) for the survivors of the baseline run: per module, mutant name
# patterns (fnmatch, first match wins) and the test that kills them. `--verify` (after a run)
# runs each such mutant against its test alone, to show that this test is the one that kills it.
KILLED_BY: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "conv_arithmetic": ("tests/test_conv_arithmetic.py", [
        ("x_conv_parameters__*", "test_parameters_without_bias_match_keras"),
        ("x_dense_parameters__*", "test_parameters_without_bias_match_keras"),
        ("x_padding_amounts__mutmut_[12]", "test_defaults_are_keras_defaults"),
        ("x_padding_amounts__*", "test_padding_amounts_are_keras_padding"),
        ("x_conv_output_size__mutmut_4", "test_refusals_name_the_numbers_given"),
        ("x_input_cells__mutmut_10", "test_refusals_name_the_numbers_given"),
        ("x_input_cells__mutmut_23", "test_input_cells_with_same_padding_are_what_keras_reads"),
        ("*", "test_defaults_are_keras_defaults"),
    ]),
    "convolution": ("tests/test_convolution.py", [
        ("x_accumulate__mutmut_[12]", "test_accumulation_rounds_to_nearest_by_default"),
        ("x_conv2d_fft__mutmut_[3579]",
         "test_fft_and_winograd_compute_in_float64_whatever_the_input"),
        ("x_conv2d_fft__*", "test_fft_on_odd_sides"),
        ("x_conv2d_winograd__mutmut_1[45]",
         "test_winograd_refuses_other_kernels_and_counts_only_3x3"),
        ("x_conv2d_winograd__*", "test_winograd_on_a_wide_output"),
        ("x_multiplications__*", "test_winograd_refuses_other_kernels_and_counts_only_3x3"),
        ("x_*im2col__*", "test_defaults_are_stride_1_and_no_padding"),
        ("*", "test_stochastic_rounding_is_reproducible_and_keeps_its_dtype"),
    ]),
    "batchnorm": ("tests/test_batchnorm_dropout.py", [
        ("*", "test_fresh_weights_and_config_are_keras"),
    ]),
    "fused_batchnorm": ("tests/test_fused_batchnorm.py", [
        ("*fuses__mutmut_[12789]", "test_renormalization_is_keras_own_and_keras_3_13_fuses"),
        ("*fuses__mutmut_10", "test_renormalization_is_keras_own_and_keras_3_13_fuses"),
        ("*fuses__*", "test_fuses_the_dtypes_tensorflows_kernel_takes"),
        ("*call__*", "test_a_mask_goes_to_keras_moments"),
    ]),
    "dropout": ("tests/test_batchnorm_dropout.py", [
        ("*", "test_seeded_dropout_repeats_its_masks_as_keras_does"),
    ]),
    "whitening": ("tests/test_whitening.py", [
        ("x_image_patches__*", "test_image_patches_are_float32_whatever_the_images"),
        ("*__init__*", "test_each_direction_keeps_eigenvalue_over_eigenvalue_plus_epsilon"),
        ("*adapt__*", "test_each_direction_keeps_eigenvalue_over_eigenvalue_plus_epsilon"),
        ("*build__*", "test_weights_are_a_conv2ds_and_zero_until_adapted"),
        ("*call__*", "test_bias_and_mixed_precision_as_in_a_conv2d"),
        ("*compute_output_shape__*", "test_output_shape_is_a_valid_conv2ds"),
    ]),
    "preprocessing_normalisation": ("tests/test_preprocessing.py", [
        ("*PerImageStandardization*",
         "test_per_image_standardization_floors_a_faint_images_std_as_tf_does"),
        ("*adapt__mutmut_5[4-7]", "test_adapt_without_images_says_what_to_pass"),
        ("*adapt__mutmut_53", "test_adapt_without_images_says_what_to_pass"),
        ("*adapt__*", "test_statistics_from_batches_labelled_datasets_uint8_and_small_values"),
        ("*", "test_fitted_normalisations_weights_identity_and_outputs"),
    ]),
    "grading_values": ("tests/test_exercise_checks.py", [
        ("x__plain__*", "test_check_cases_compares_sequences_element_by_element"),
        ("x_check_cases__*", "test_check_cases_compares_sequences_element_by_element"),
        ("x__value__*", "test_tracked_numbers_count_products_and_quotients_of_two_tracked_values"),
        ("*Tracked*", "test_tracked_numbers_count_products_and_quotients_of_two_tracked_values"),
        ("*", "test_gradient_check_messages_and_the_relative_error_formula"),
    ]),
    "grading_helpers": ("tests/test_exercise_checks.py", [
        ("x_call*", "test_callable_names_and_the_message_of_an_unsolved_cell"),
        ("x_check_array__*", "test_check_array_tolerances_worst_element_and_messages"),
        ("x_describe__*",
         "test_describe_shows_tensors_by_shape_and_cuts_long_values_at_60_characters"),
        ("x_kernel_side__*", "test_kernel_side_names_the_helper_and_hands_remote_objects_over"),
        ("x_plain__*", "test_plain_turns_numpy_scalars_into_python_numbers_in_containers"),
    ]),
}

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout", -11: "segfault", -9: "segfault", None: "not checked"}


def _keep_signatures() -> None:
    """mutmut's trampoline (``functools.wraps`` over ``*args, **kwargs``) hides the parameters
    of the method it wraps from ``inspect.getfullargspec``, which ``keras.Operation.__new__``
    reads from ``__init__``: every course layer would fail to construct (IndexError). Give each
    ``__init__`` trampoline its function's signature, which ``getfullargspec`` honours. (Only
    ``__init__``: Keras copies a bound ``build``'s attributes onto a plain function, where a
    signature with ``self`` would be wrong. mutmut's forks inherit the patched module; the
    mutated files import the decorator from it.)"""
    import inspect

    from mutmut.mutation import trampoline

    wrap = trampoline.wrap_in_trampoline

    def wrap_in_trampoline(mutants_dict, is_classmethod=False):
        decorate = wrap(mutants_dict, is_classmethod)

        def with_signature(func):
            wrapper = decorate(func)
            if func.__name__ == "__init__":
                wrapper.__signature__ = inspect.signature(func)
            return wrapper

        return with_signature

    trampoline.wrap_in_trampoline = wrap_in_trampoline


def _child(target: Target) -> None:
    """Runs in a process of its own (mutmut exits on errors): mutmut's ``run`` on one module."""
    os.chdir(ROOT)
    _keep_signatures()
    import mutmut.configuration as mutmut_config

    shared = mutmut_config.config()  # [tool.mutmut] of pyproject.toml
    mutmut_config._config = dataclasses.replace(
        shared, only_mutate=[target.path], pytest_add_cli_args_test_selection=list(target.tests))
    from mutmut.__main__ import _run

    _run(target.globs(), max_children=1)


def killing_test(target: Target, mutant: str) -> str | None:
    """The test added to kill ``mutant`` (a survivor of the baseline run), from KILLED_BY."""
    import fnmatch

    path, rules = KILLED_BY.get(target.name, ("", []))
    local = mutant.removeprefix(target.module + ".")
    for pattern, test in rules:
        if fnmatch.fnmatch(local, pattern):
            return f"{path}::{test}"
    return None


def _verify_child(target: Target, jobs_path: str) -> None:
    """In the mutants/ tree of the run just made: each mutant of ``jobs_path`` ({mutant: test})
    against its test alone, in one process (mutmut's trampolines read MUTANT_UNDER_TEST at every
    call). Each test must pass without a mutant. Writes {mutant: result} back to the file."""
    jobs = json.loads(Path(jobs_path).read_text())
    os.chdir(ROOT / "mutants")
    sys.path.insert(0, str(ROOT / "mutants"))
    _keep_signatures()
    import pytest

    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    clean = {}
    for test in sorted(set(jobs.values())):
        os.environ["MUTANT_UNDER_TEST"] = ""
        clean[test] = int(pytest.main([*args, test]))
    results = {}
    for mutant, test in jobs.items():
        os.environ["MUTANT_UNDER_TEST"] = mutant
        code = int(pytest.main([*args, test]))
        results[mutant] = {"test": test, "clean_exit": clean[test], "exit": code,
                           "killed": clean[test] == 0 and code in (1, 3)}
    Path(jobs_path).write_text(json.dumps(results))


def _diff(name: str, path: str) -> list[str]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path)
    return [line for line in diff.splitlines()[2:] if line[:1] in "+-"]


def _collect(target: Target) -> dict:
    """Counts and the mutants not killed, from mutmut's record of the module in mutants/."""
    import fnmatch

    meta = json.loads((ROOT / "mutants" / f"{target.path}.meta").read_text())
    codes = meta["exit_code_by_key"]
    globs = target.globs()
    if globs:
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
    counts: dict[str, int] = {}
    not_killed = {}
    for name, code in sorted(codes.items()):
        status = STATUS.get(code, "suspicious")
        counts[status] = counts.get(status, 0) + 1
        if status != "killed":
            not_killed[name] = {"status": status, "diff": _diff(name, target.path)}
    return {"mutants": len(codes), "counts": counts, "not_killed": not_killed}


def _score(record: dict) -> dict:
    """Equivalent mutants out, the score of the rest; notes for the mutants not killed."""
    equivalent, stale = [], []
    for name, mutant in record["not_killed"].items():
        if name in NOT_KILLED:
            mutant["reason"] = NOT_KILLED[name]
        if name in EQUIVALENT:
            snippet, reason = EQUIVALENT[name]
            if any(snippet in line for line in mutant["diff"] if line.startswith("+")):
                mutant["equivalent"] = reason
                equivalent.append(name)
            else:
                stale.append(name)
    counts = record["counts"]
    detected = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("segfault", 0)
    scored = record["mutants"] - len(equivalent)
    return {"equivalent": len(equivalent), "stale_notes": stale,
            "score": round(detected / scored, 4) if scored else None}


def _run_child(target: Target, log: Path, *extra: str) -> tuple[float, float]:
    """``python mutation.py --child NAME ...``, output to ``log``: (wall, CPU) seconds, all its
    processes (mutmut's fork server and workers) included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call([sys.executable, __file__, "--child", target.name, *extra],
                               cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"{target.name} failed (exit {code}); its output: {log}")
    log.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_target(target: Target, baseline: dict | None) -> dict:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # a fresh copy: no results carried over
    wall, cpu = _run_child(target, RESULTS / f".mutation_{target.name}.log")
    record = _collect(target)
    record.update(path=target.path, tests=list(target.tests), what=target.what,
                  functions=list(target.functions), wall_s=round(wall, 1), cpu_s=round(cpu, 1),
                  s_per_mutant=round(wall / max(record["mutants"], 1), 2))
    record.update(_score(record))
    jobs = {name: killing_test(target, name) for name in (baseline or {}).get("not_killed", {})
            if name not in EQUIVALENT and name not in NOT_KILLED}
    jobs = {name: test for name, test in jobs.items() if test}
    if jobs:
        jobs_path = RESULTS / f".mutation_{target.name}.verify.json"
        jobs_path.write_text(json.dumps(jobs))
        wall, cpu = _run_child(target, RESULTS / f".mutation_{target.name}.verify.log",
                               "--verify", str(jobs_path))
        record["verified"] = json.loads(jobs_path.read_text())
        jobs_path.unlink()
        record.update(verify_wall_s=round(wall, 1), verify_cpu_s=round(cpu, 1))
    return record


def _row(name: str, r: dict) -> str:
    c = r["counts"]
    score = "-" if r["score"] is None else f"{100 * r['score']:.1f}%"
    return (f"| {name} | {r['mutants']} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
            f"{c.get('survived', 0)} | {c.get('no tests', 0)} | {r['equivalent']} | {score} | "
            f"{r['wall_s']:.0f} s ({r['s_per_mutant']:.2f} s) |")


HEADER = ("| module | mutants | killed | timeout | survived | no tests | equivalent | score | "
          "wall time (per mutant) |\n|---|---|---|---|---|---|---|---|---|")


def totals(modules: dict) -> dict:
    """Counts, score and times of all the modules together."""
    def total(key):
        return sum(r.get(key, 0) for r in modules.values())

    mutants, equivalent = total("mutants"), total("equivalent")
    detected = sum(r["counts"].get(k, 0) for r in modules.values()
                   for k in ("killed", "timeout", "segfault"))
    return {"mutants": mutants, "detected": detected, "equivalent": equivalent,
            "not_detected": mutants - equivalent - detected,
            "score": round(detected / (mutants - equivalent), 4),
            "wall_s": round(total("wall_s"), 1), "cpu_s": round(total("cpu_s"), 1),
            "verify_wall_s": round(total("verify_wall_s"), 1),
            "verify_cpu_s": round(total("verify_cpu_s"), 1)}


def _totals(modules: dict) -> str:
    t = totals(modules)
    verified = (f" Verifying the new tests one by one took {t['verify_wall_s'] / 60:.1f} min "
                f"more ({t['verify_cpu_s'] / 60:.1f} min CPU)." if t["verify_wall_s"] else "")
    return (f"In all: {t['mutants']} mutants, {t['detected']} killed, {t['equivalent']} "
            f"equivalent: {100 * t['score']:.1f}%; {t['wall_s'] / 60:.1f} min wall time, "
            f"{t['cpu_s'] / 60:.1f} min CPU ({t['wall_s'] / max(t['mutants'], 1):.2f} s wall and "
            f"{t['cpu_s'] / max(t['mutants'], 1):.2f} s CPU per mutant).{verified}")


def _natural(name: str) -> tuple[str, int]:
    """``x_f__mutmut_10`` after ``x_f__mutmut_9``."""
    function, _, number = name.rpartition("_")
    return function, int(number) if number.isdigit() else 0


def _diff_block(diff: list[str]) -> list[str]:
    return ["  ```diff"] + [f"  {line}" for line in diff] + ["  ```"]


def write_markdown(results: dict) -> str:
    modules = results["modules"]
    baseline = results.get("baseline", {}).get("modules", {})
    for record in (*modules.values(), *baseline.values()):
        record.update(_score(record))  # the notes as they are now
        for mutant in [m for m in record.get("verified", {}) if m in EQUIVALENT]:
            del record["verified"][mutant]  # found equivalent after its test was written
    results["totals"] = totals(modules)
    if baseline:
        results["baseline"]["totals"] = totals(baseline)
    machine_facts = results["machine"]
    lines = [
        "# Mutation testing of the course's numerics",
        "",
        f"`python benchmarks/mutation.py` (`make mutation`): mutmut {results['mutmut']} on "
        f"commit {results['commit']} (the tests of that commit), one mutant at a time under "
        f"`nice -n 19` on {machine_facts['cpu']}, {machine_facts['cores']} cores (1-minute load "
        f"{machine_facts['load_average_1min']:.1f} at the start: other jobs shared the machine, "
        "so wall times are upper bounds). Score: `(killed + timeout) / (mutants - equivalent)`; "
        "a mutant is killed when one of the tests that call its function fails.",
        "",
        HEADER,
        *[_row(name, r) for name, r in modules.items()],
        "",
        _totals(modules),
        "",
    ]
    if baseline:
        lines += [
            "## Before: the tests as they were",
            "",
            f"The same run on commit {results['baseline']['commit']}, before the tests of issue "
            "34 (equivalent mutants as classified below). "
            + results["baseline"].get("note", ""),
            "",
            HEADER,
            *[_row(name, r) for name, r in baseline.items()],
            "",
            _totals(baseline),
            "",
        ]
    lines += ["## Modules and their tests", ""]
    for name, r in modules.items():
        scope = (" (only " + ", ".join(f"`{f.split('.')[-1]}`" for f in r["functions"]) + ")"
                 if r["functions"] else "")
        lines.append(f"- **{name}**: `{r['path']}`{scope}, {r['what']}; tests: "
                     + ", ".join(f"`{t}`" for t in r["tests"]))
    lines += ["", "## Mutants not killed now", "",
              "Each with its diff and why: an equivalent mutant (it behaves like the original on "
              "every input the function accepts) or a survivor with its reason.", ""]
    for name, r in modules.items():
        if not r["not_killed"]:
            continue
        lines += [f"### {name}", ""]
        for mutant, m in sorted(r["not_killed"].items(), key=lambda item: _natural(item[0])):
            if m.get("equivalent"):
                label = f"equivalent: {m['equivalent']}"
            elif m.get("reason"):
                label = f"{m['status']}: {m['reason']}"
            else:
                label = f"**{m['status']}, not explained**"
            lines.append(f"- `{mutant.rsplit('.', 1)[-1]}`: {label}")
            lines += _diff_block(m["diff"])
        lines.append("")
    if baseline:
        lines += ["## Survivors of the baseline and the tests that kill them", "",
                  "Each mutant that survived the baseline run and is not equivalent, the test "
                  "added for it, whether the full run above killed it, and whether that test "
                  "alone kills it (run against the mutant by itself after the full run: "
                  "`verified`).", ""]
        for name, b in baseline.items():
            now = modules.get(name, {})
            verified = now.get("verified", {})
            rows = sorted(((mutant, m) for mutant, m in b["not_killed"].items()
                           if not m.get("equivalent")), key=lambda item: _natural(item[0]))
            if not rows:
                continue
            lines += [f"### {name}", ""]
            for mutant, m in rows:
                state = now.get("not_killed", {}).get(mutant)
                state = ("not run" if not now else "killed" if state is None
                         else state["status"])
                v = verified.get(mutant)
                test = v["test"].split("::")[-1] if v else None
                check = ("" if not v else "; verified" if v["killed"]
                         else "; **not killed by that test alone**")
                how = f"`{test}`: {state}{check}" if test else \
                    f"{state}: {m.get('reason', 'no test added')}"
                added = next((line[1:].strip() for line in m["diff"] if line.startswith("+")),
                             "")
                lines.append(f"- `{mutant.rsplit('.', 1)[-1]}` (`{added}`): {how}")
            lines.append("")
    lines += [
        "## The tool: mutmut 3, and how it runs here",
        "",
        "- mutmut 3 (the first choice of the issue) works here once two things are set: its "
        "fork server, and `__init__` signatures (below). cosmic-ray or a runner of our own were "
        "not needed. mutmut copies the tree into `mutants/` (ignored by git) and replaces each "
        "function of the module by a trampoline that calls the original or one mutant, chosen "
        "by an environment variable: one copy of the code serves every mutant. A first clean "
        "run of the module's test files records which test calls which function; each mutant "
        "then runs with only those tests.",
        "- The fork server (`process_isolation = \"forkserver\"` in `[tool.mutmut]`) imports "
        "pytest, the tests and TensorFlow once, before any TensorFlow op has run, and forks "
        "a worker per mutant from there: no worker pays TensorFlow's import (about 10 s on "
        "this machine) and none inherits a running TensorFlow runtime (TensorFlow is not "
        "fork-safe once its runtime runs; mutmut's default, by its documentation, forks from "
        "the process that ran the suite to collect the statistics: not tried here).",
        "- `benchmarks/mutation.py` gives each `__init__` trampoline its function's signature: "
        "`keras.Operation.__new__` reads it with `inspect.getfullargspec`, which does not follow "
        "the trampoline's `functools.wraps`, and without it no course layer can be built under "
        "mutmut (IndexError in every layer test).",
        "- Timeouts: mutmut's default limit of `(tests' time + 1 s) x 15` of wall-clock time "
        "stopped workers that had only to start TensorFlow's runtime while the machine was busy "
        "(29 false timeouts in a first run of `preprocessing_normalisation`); "
        "`timeout_constant = 30` and `timeout_multiplier = 10` left none (no mutant of these "
        "modules runs for ever either: none timed out in the run above).",
        "- `--verify` (always run after a module's mutmut run when a baseline exists): each "
        "survivor of the baseline that a new test targets runs again against that test alone, "
        "in the same `mutants/` tree; the test must pass without the mutant and fail with it.",
        "",
        "## What is left",
        "",
        "- Not mutated by mutmut 3: module-level constants (the Winograd matrices of "
        "`course/convolution.py`, checked indirectly: `conv2d_winograd` matches "
        "`tf.nn.conv2d`), class attributes (`reduce_axes` and `uses_std` of the fitted "
        "normalisations, checked indirectly by the NumPy comparisons) and functions under a "
        "decorator other than `staticmethod`/`classmethod` (`count_multiplications`, decorated "
        "by `kernel_side`; `test_count_multiplications` checks its values and counts).",
        "- Modules not in this run: `course/layers/normalization.py` (AlexNet's local response "
        "normalization, tested only inside the classic models), the augmentation layers of "
        "`course/preprocessing.py` (crops, PCA colour), `course/layers/spectral.py` and "
        "`matmul_gradient.py`. `course/regularization.py` has no dropout (it wraps Keras' "
        "regularizers). At the measured 1-4 s per mutant, each is minutes of machine time; "
        "the work is in the survivors.",
        "- `x_check_gradient__mutmut_26` in `course/grading/checks/values.py` survives by choice "
        "(the reason above).",
        "",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="names from TARGETS (default: all)")
    parser.add_argument("--baseline", action="store_true",
                        help="store this run as the numbers before the new tests")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite mutation.md (and the scores) from mutation.json, "
                             "with the notes of this file as they are now")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_name = {t.name: t for t in TARGETS}
    if args.child and args.verify:
        _verify_child(by_name[args.child], args.verify)
        return
    if args.child:
        _child(by_name[args.child])
        return
    os.chdir(ROOT)
    path = RESULTS / "mutation.json"
    if args.report:
        results = json.loads(path.read_text())
        markdown = write_markdown(results)
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        (RESULTS / "mutation.md").write_text(markdown)
        return
    unknown = set(args.modules) - set(by_name)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; known: {sorted(by_name)}")
    chosen = [by_name[n] for n in args.modules] if args.modules else list(TARGETS)

    from importlib.metadata import version

    results = json.loads(path.read_text()) if path.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    facts = {"cpu": machine.cpu_model(), "cores": machine.cores(),
             "load_average_1min": machine.load_average()}
    section = results.setdefault("baseline", {}) if args.baseline else results
    section.update(commit=commit, machine=facts, mutmut=version("mutmut"))
    modules = section.setdefault("modules", {})
    for target in chosen:
        print(f"{target.name}: mutating {target.path} against {', '.join(target.tests)}",
              flush=True)
        baseline = None if args.baseline else \
            results.get("baseline", {}).get("modules", {}).get(target.name)
        record = run_target(target, baseline)
        modules[target.name] = record
        c = record["counts"]
        print(f"  {record['mutants']} mutants, {c.get('killed', 0)} killed, "
              f"{c.get('survived', 0)} survived, {c.get('timeout', 0)} timeout, "
              f"{record['equivalent']} equivalent: score {record['score']}, "
              f"{record['wall_s']:.0f} s", flush=True)
        if "verified" in record:
            good = sum(v["killed"] for v in record["verified"].values())
            print(f"  verified: {good} of {len(record['verified'])} baseline survivors killed by "
                  f"their own test alone ({record['verify_wall_s']:.0f} s)", flush=True)
        # in TARGETS' order, whatever order the modules ran in
        order = [t.name for t in TARGETS if t.name in modules]
        section["modules"] = {n: modules[n] for n in order}
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    if "modules" in results:
        (RESULTS / "mutation.md").write_text(write_markdown(results))


if __name__ == "__main__":
    main()
