"""The site tests' mark, and a loud last line when they were skipped."""


def pytest_configure(config):
    config.addinivalue_line("markers", "site: the built book tested in headless Chromium (needs _build/html)")


def pytest_terminal_summary(terminalreporter):
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "SITE TESTS SKIPPED" in str(report.longrepr)
    ]
    if skipped:
        reason = str(skipped[0].longrepr[2]) if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
        terminalreporter.write_sep("!", "WARNING: the site tests did not run", red=True, bold=True)
        terminalreporter.write_line(f"{len(skipped)} site tests skipped: {reason}", red=True)
