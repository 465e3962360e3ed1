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
        longrepr = skipped[0].longrepr
        reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
        terminalreporter.write_sep("!", "WARNING: the site tests did not run", red=True, bold=True)
        terminalreporter.write_line(f"{len(skipped)} tests skipped. {reason}", red=True)
