"""A browser's User-Agent string in a few words (「Chrome 120 · Windows」) for the sessions an
operator or a user looks at; the string itself stays in the API and in the cell's title."""

from __future__ import annotations

import re

# The first that matches names the browser: Edge and Opera say "Chrome" too, Chrome says "Safari".
_BROWSERS = (
    (r"MicroMessenger/(\d+)", "微信"), (r"Edg(?:e|A|iOS)?/(\d+)", "Edge"), (r"OPR/(\d+)", "Opera"),
    (r"(?:Firefox|FxiOS)/(\d+)", "Firefox"), (r"HeadlessChrome/(\d+)", "Chrome（无界面）"),
    (r"(?:Chrome|CriOS)/(\d+)", "Chrome"), (r"Version/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/", "Safari"),
)
# Programs rather than browsers: an integration's HTTP library or a command line.
_PROGRAMS = (
    (r"^curl/([\d.]+)", "curl"), (r"python-requests/([\d.]+)", "Python requests"),
    (r"python-httpx/([\d.]+)", "Python httpx"), (r"Python-urllib/([\d.]+)", "Python urllib"),
    (r"Go-http-client/([\d.]+)", "Go"), (r"okhttp/([\d.]+)", "OkHttp"), (r"Java/([\d.]+)", "Java"),
    (r"PostmanRuntime/([\d.]+)", "Postman"), (r"Wget/([\d.]+)", "Wget"),
)
_SYSTEMS = (
    (r"iPhone", "iPhone"), (r"iPad", "iPad"), (r"Android", "Android"), (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux"),
)


def describe_agent(agent: str | None) -> str:
    """「Chrome 120 · Windows」, 「程序：curl 8.5.0」, or the string cut to 40 characters when
    nothing in it is known; 「—」 for none."""
    if not agent or not agent.strip():
        return "—"
    for pattern, name in _PROGRAMS:
        found = re.search(pattern, agent)
        if found:
            return f"程序：{name} {found.group(1)}"
    browser = next((f"{name} {m.group(1)}" for pattern, name in _BROWSERS if (m := re.search(pattern, agent))), None)
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, agent)), None)
    if browser is None:
        return agent if len(agent) <= 40 else agent[:39] + "…"
    return f"{browser} · {system}" if system else browser
