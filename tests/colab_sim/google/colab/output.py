"""Stand-in for ``google.colab.output``: the port proxy, fetched as the browser would."""

import urllib.request

from google.colab._log import record


def _fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return answer.status, answer.read(4096).decode("utf-8", "replace")
    except OSError as error:
        return 0, str(error)


def serve_kernel_port_as_iframe(
    port: int, path: str = "/", width: str = "100%", height: str = "400", cache_in_notebook=False
) -> None:
    status, body = _fetch(port, path)
    record("serve_kernel_port_as_iframe", port=port, status=status, body=body[:2000])
    from IPython.display import HTML, display

    display(HTML(f'<iframe src="https://colab-proxy/{port}{path}" height="{height}"></iframe>'))


def serve_kernel_port_as_window(port: int, path: str = "/", anchor_text=None) -> None:
    status, body = _fetch(port, path)
    record("serve_kernel_port_as_window", port=port, status=status, body=body[:2000])
    print(f"https://colab-proxy/{port}{path}")
