"""The checks a student's check cell calls: ``from course.grading import checks``.

Each check raises ``GradingError`` (an ``AssertionError``, so the cell fails) with what is wrong
and what to do, and prints one ``PASS`` line otherwise; the bars are fixed here, in the package.
In the student's own run the checks run in the notebook's kernel, as feedback. When the notebook
is autograded they run in the judge's process (``course.grading.notebooks``), on what the
student's code returned; the helpers marked ``helpers.kernel_side`` run in the student's kernel
and return plain data.

- ``helpers``: calling a student's function (``call``), arrays (``check_array``), messages;
- ``values``: functions on given inputs, gradients;
- ``products``: counting the products a function does (Winograd), decided outside the kernel;
- ``models``: layers, parameters, accuracy, augmentation layers, fine-tuning;
- ``assignments``: the MNIST term project and the CIFAR-100 assignment.

Importing this package does not import TensorFlow.
"""
from course.grading.checks.assignments import (
    CIFAR100_FAST_MIN_ACCURACY,
    CIFAR100_SUBMISSION,
    MNIST_FAST_MAX_ERROR,
    MNIST_MAX_ERROR,
    MNIST_MIN_CONV_LAYERS,
    autograding,
    check_cifar100_contract,
    check_cifar100_submission,
    check_mnist_architecture,
    check_mnist_term_project,
    check_model_io,
)
from course.grading.checks.helpers import (
    call,
    call_checked,
    callable_name,
    check_array,
    describe,
    describe_call,
    kernel_side,
)
from course.grading.checks.models import (
    check_accuracy,
    check_config,
    check_crop_flip,
    check_discriminative_rates,
    check_inference_identity,
    check_layers,
    check_margin,
    check_params,
    check_seeded,
    check_small_resnet,
    check_whitening,
    config_round_trip,
    fit_one_epoch,
    layer_outputs,
    pipeline_batches,
    shared_layers,
    shared_weights,
)
from course.grading.checks.products import Tracked, count_multiplications, trace_program
from course.grading.checks.values import (
    check_cases,
    check_gradient,
    numerical_gradient,
    relative_error,
)
from course.grading.contract import GradingError
