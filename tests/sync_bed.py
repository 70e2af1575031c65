"""Content and configs for the sync tests: source repositories with many tags, seeded raw.

Seeding uses ``images.push_raw`` (http.client only), never the client under test.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from images import OCI_INDEX, ImageContent, oci_image, push_raw
from ocireg import Credentials, RegistrySettings
from registry_bed import AccessLogEntry, RegistryInstance

ARTIFACT_TYPE = "application/vnd.example.sbom.v1+json"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def seed_tags(instance: RegistryInstance, repo: str, tags: list[str], *, size: int = 3000,
              seed: int = 0) -> dict[str, ImageContent]:
    """One distinct small image per tag, pushed raw; returns tag -> image."""
    auth = instance.writer.creds if instance.auth_required else None
    images = {}
    for i, tag in enumerate(tags):
        image = oci_image((size, size // 2), rng=random.Random(seed * 1000 + i))
        push_raw(instance.url, repo, image, tag=tag, auth=auth)
        images[tag] = image
    return images


def seed_referrer(instance: RegistryInstance, repo: str, subject: ImageContent) -> ImageContent:
    """An SBOM-like artifact whose subject is ``subject``, listed in the OCI 1.1 fallback tag
    (distribution 2.8 has no referrers API), as a pushing client would have done."""
    auth = instance.writer.creds if instance.auth_required else None
    referrer = oci_image((100,), subject=subject, artifact_type=ARTIFACT_TYPE)
    push_raw(instance.url, repo, referrer, auth=auth)
    fallback = ImageContent.of(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [referrer.descriptor(artifactType=ARTIFACT_TYPE)]},
        OCI_INDEX,
    )
    push_raw(instance.url, repo, fallback, tag=subject.digest.replace(":", "-"), auth=auth)
    return referrer


def settings(instance: RegistryInstance, **extra: object) -> RegistrySettings:
    """Explicit credentials for a registry that needs them; anonymous (no docker config) otherwise."""
    if instance.auth_required:
        name, password = instance.writer.creds
        return RegistrySettings(instance.host, credentials=Credentials(name, password), **extra)  # type: ignore[arg-type]
    return RegistrySettings(instance.host, docker_config=False, **extra)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Traffic:
    """What a registry was asked between two moments (its access log, our requests only)."""

    entries: list[AccessLogEntry]

    @property
    def writes(self) -> list[AccessLogEntry]:
        return [e for e in self.entries if e.method in ("POST", "PUT", "PATCH", "DELETE")]

    def blob_uploads(self) -> list[str]:
        """Digests of blob uploads the registry completed (PUT ...?digest=, answered 201)."""
        out = []
        for e in self.entries:
            if e.method == "PUT" and "/blobs/uploads/" in e.path and e.status == 201 and "digest=" in e.path:
                out.append(e.path.split("digest=", 1)[1].split("&", 1)[0].replace("%3A", ":"))
        return out


def traffic_since(instance: RegistryInstance, mark: int) -> Traffic:
    return Traffic(instance.access_log_lines()[mark:])


def log_mark(instance: RegistryInstance) -> int:
    return len(instance.access_log_lines())
