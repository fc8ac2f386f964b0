"""The client of kubeprom's Kubernetes-shaped API (:mod:`kubeprom.web.kube`), as kubectl
talks to an API server: JSON objects in and out, ``Status`` failures raised as
:class:`~kubeprom.errors.StatusError`.

It shares :class:`~kubeprom.web.client.PrometheusClient`'s transport settings (``--server``
with ``user:password@`` or ``--http.config.file`` for basic auth, bearer tokens and TLS).
Each call is one blocking request of at most ``timeout_s`` seconds, for the command line.
A server that cannot be reached, refuses the credentials or answers something that is
not the API raises :class:`~kubeprom.errors.QueryAPIUnavailable`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kubeprom.errors import QueryAPIUnavailable, StatusError
from kubeprom.web.client import PrometheusClient
from kubeprom.web.kube import PREFIX

JSON = dict[str, Any]


class KubeClient:
    """Requests to ``<server>/kubeprom/...`` through a :class:`PrometheusClient`'s settings."""

    def __init__(self, client: PrometheusClient) -> None:
        self._client = client

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self._client.base_url}{PREFIX}{path}{query}"

    def get(self, path: str, params: dict[str, str] | None = None) -> JSON:
        return self._call("GET", path, params)

    def post(self, path: str, body: JSON, params: dict[str, str] | None = None) -> JSON:
        return self._call("POST", path, params, body, "application/json")

    def patch(self, path: str, body: JSON) -> JSON:
        return self._call("PATCH", path, None, body, "application/merge-patch+json")

    def delete(self, path: str) -> JSON:
        return self._call("DELETE", path)

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: JSON | None = None,
        content_type: str = "",
    ) -> JSON:
        url = self.url(path, params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if content_type:
            request.add_header("Content-Type", content_type)
        status, text = self._send(url, request)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "kind" not in answer:
            if status in (401, 403):
                raise QueryAPIUnavailable(url, f"HTTP {status}")
            snippet = " ".join(text.split())[:200]
            raise QueryAPIUnavailable(
                url, f"HTTP {status}: not a Kubernetes API answer: {snippet!r}"
            )
        if answer.get("kind") == "Status" and answer.get("status") == "Failure":
            raise StatusError(
                str(answer.get("reason", "Unknown")),
                int(answer.get("code", status)),
                str(answer.get("message", "")),
            )
        return answer

    def _send(self, url: str, request: urllib.request.Request) -> tuple[int, str]:
        """The status and body of the answer (error statuses included)."""
        c = self._client
        auth = c.url_authorization
        if auth is not None:
            request.add_header("Authorization", auth)
        try:
            with c.transport.open(request, c.timeout_s) as resp:
                return int(resp.status), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read().decode("utf-8", "replace")
        except urllib.error.URLError as err:
            reason = err.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise QueryAPIUnavailable(
                url, str(text), refused=isinstance(reason, ConnectionRefusedError)
            ) from err
        except TimeoutError as err:
            raise QueryAPIUnavailable(url, f"timed out after {c.timeout_s:g}s") from err
        except OSError as err:
            raise QueryAPIUnavailable(url, str(err)) from err
