"""The `convlab` command line, checked against torch's layers."""

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from convlab.cli import main


def run(capsys, *args):
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out.strip(), captured.err


def test_conv_shape_matches_torch(capsys):
    status, out, _ = run(capsys, "shape", "conv", "304", "228", "-k", "7", "-s", "2", "-p", "3")
    real = nn.Conv2d(1, 1, 7, stride=2, padding=3)(torch.zeros(1, 1, 304, 228)).shape[-2:]
    assert status == 0 and out == f"{real[0]} {real[1]}"


def test_pool_shape_with_ceil_mode_matches_torch(capsys):
    status, out, _ = run(capsys, "shape", "pool", "5", "-k", "2", "-s", "2", "-p", "1", "--ceil-mode")
    real = nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5, 5)).shape[-2:]
    assert status == 0 and out == f"{real[0]} {real[1]}"


def test_transposed_shape_matches_torch(capsys):
    status, out, _ = run(capsys, "shape", "transpose", "7", "9", "-k", "3", "-s", "2", "-p", "1", "-a", "1")
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)
    real = layer(torch.zeros(1, 1, 7, 9)).shape[-2:]
    assert status == 0 and out == f"{real[0]} {real[1]}"


def test_padding_for_a_target_size(capsys):
    status, out, _ = run(capsys, "padding", "304", "228", "--to", "152", "114", "-k", "7", "-s", "2")
    assert status == 0
    ph, pw = map(int, out.split())
    real = nn.Conv2d(1, 1, 7, stride=2, padding=(ph, pw))(torch.zeros(1, 1, 304, 228)).shape[-2:]
    assert tuple(real) == (152, 114)


def test_a_bad_configuration_prints_the_explanation_and_exits_2(capsys):
    status, out, err = run(capsys, "shape", "conv", "5", "-k", "7")
    assert status == 2 and out == ""
    assert "The kernel does not fit" in err and "Fix:" in err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: convlab" in capsys.readouterr().out


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "convlab"
    done = subprocess.run([str(script), "shape", "conv", "28", "-k", "3"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "26 26"
