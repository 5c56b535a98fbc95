"""Who may act where: a person's scope (by role) against a school. Enforced in the service layer."""

from __future__ import annotations

from sqlmodel import Session, SQLModel

from roadmap.errors import InvalidValue
from roadmap.models import Academie, Circonscription, Departement, School
from roadmap.roles import READ_ONLY_ROLES, ROLE_LABELS, ROLES, SCOPE_KINDS
from roadmap.uai import normalize_uai, uai_problem
from workflows import Actor
from workflows.models import WorkflowInstance

ADMIN_SCOPE = "*"


def normalize_scope(role: str, scope: str) -> str:
    """Canonical form of a scope: UAI upper-cased, département on 3 digits, académie on 2."""
    text = scope.strip()
    if role in ("director", "ien"):
        return normalize_uai(text)
    if role == "cpd" and text.isdigit():
        return text.zfill(3)
    if role in ("dane", "dpo") and text.isdigit():
        return text.zfill(2)
    if role == "admin" and text in ("", "*"):
        return ADMIN_SCOPE
    return text.upper()


def check_scope(session: Session, role: str, scope: str) -> str:
    """Validate a (role, scope) pair against the directory; returns the normalized scope."""
    if role not in ROLES:
        raise InvalidValue("rôle", role, "rôle inconnu.", hint="rôles possibles : " + ", ".join(ROLES))
    normalized = normalize_scope(role, scope)
    kind = SCOPE_KINDS[role]
    hint = f"pour le rôle {role}, le périmètre est : {kind}."
    if role in ("director", "ien"):
        problem = uai_problem(normalized)
        if problem:
            raise InvalidValue("périmètre", scope, f"UAI invalide : {problem}.", hint=hint)
    tables: dict[str, type[SQLModel]] = {
        "director": School,
        "ien": Circonscription,
        "cpd": Departement,
        "dane": Academie,
        "dpo": Academie,
    }
    table = tables.get(role)
    if table is None:
        if normalized != ADMIN_SCOPE:
            raise InvalidValue(
                "périmètre", scope, "un administrateur couvre tout le territoire.", hint="son périmètre est « * »."
            )
        return normalized
    if session.get(table, normalized) is None:
        raise InvalidValue(
            "périmètre",
            scope,
            f"aucun(e) {kind} de ce code n'est connu(e).",
            hint=hint + " L'annuaire qui le contient doit d'abord être importé.",
            remedy="import_annuaire",
        )
    return normalized


def school_academie(session: Session, school: School) -> str | None:
    departement = session.get(Departement, school.departement_code)
    return departement.academie_code if departement else None


def covers(session: Session, role: str, scope: str, school: School) -> bool:
    if role == "admin":
        return True
    if role == "director":
        return school.uai == scope
    if role == "ien":
        return school.circonscription_uai == scope
    if role == "cpd":
        return school.departement_code == scope
    if role in ("dane", "dpo"):
        return school_academie(session, school) == scope
    return False


def authorize(session: Session, actor: Actor, instance: WorkflowInstance, school: object) -> list[str]:
    """Engine hook: the reasons why `actor` may not act on this school (empty when in scope)."""
    if not isinstance(school, School):
        return [f"école {instance.subject} introuvable dans l'annuaire."]
    if actor.role in READ_ONLY_ROLES:
        return [f"{actor.label or actor.id} ({ROLE_LABELS[actor.role]}) a un accès en lecture seule : "
                "il ou elle consulte les comptes rendus et le registre, sans rien modifier."]
    if covers(session, actor.role, actor.scope, school):
        return []
    what = {
        "director": f"qui dirige l'école {actor.scope}",
        "ien": f"IEN de la circonscription {actor.scope}, alors que l'école relève de "
        f"{school.circonscription_uai or 'aucune circonscription connue'}",
        "cpd": f"CPD du département {actor.scope}, alors que l'école est dans le département {school.departement_code}",
        "dane": f"DANE de l'académie {actor.scope}, alors que l'école relève de l'académie "
        f"{school_academie(session, school)}",
    }.get(actor.role, f"rôle {ROLE_LABELS.get(actor.role, actor.role)}")
    return [f"{actor.label or actor.id} ({what}) n'est pas habilité(e) à agir pour l'école {school.uai}."]


# Who may register or remove whom: (manager's role) -> roles they may manage, within their scope.
MANAGES: dict[str, tuple[str, ...]] = {
    "admin": ROLES,
    "dane": ("director", "ien", "cpd"),
    "cpd": ("director", "ien"),
}


def scope_location(session: Session, role: str, scope: str) -> tuple[str | None, str | None]:
    """(département, académie) of a person's scope, as far as the directory knows them."""
    departement: str | None = None
    if role == "director":
        school = session.get(School, scope)
        departement = school.departement_code if school else None
    elif role == "ien":
        circonscription = session.get(Circonscription, scope)
        departement = circonscription.departement_code if circonscription else None
    elif role == "cpd":
        departement = scope
    elif role in ("dane", "dpo"):
        return None, scope
    row = session.get(Departement, departement) if departement else None
    return departement, row.academie_code if row else None


def administration_reasons(session: Session, manager: Actor, role: str, scope: str) -> list[str]:
    """Why `manager` may not register or remove a person with this role and scope (empty when allowed)."""
    managed = MANAGES.get(manager.role, ())
    label = ROLE_LABELS.get(role, role)
    if role not in managed:
        if not managed:
            return [f"le rôle {ROLE_LABELS.get(manager.role, manager.role)} ne gère pas les personnes."]
        return [
            f"le rôle {ROLE_LABELS.get(manager.role, manager.role)} ne peut pas gérer le rôle {label} "
            "(rôles qu'il gère : " + ", ".join(ROLE_LABELS[r] for r in managed) + ")."
        ]
    if manager.role == "admin":
        return []
    departement, academie = scope_location(session, role, scope)
    if manager.role == "cpd" and departement != manager.scope:
        return [f"{label} de périmètre {scope} : hors du département {manager.scope} de ce CPD."]
    if manager.role == "dane" and academie != manager.scope:
        return [f"{label} de périmètre {scope} : hors de l'académie {manager.scope} de cette DANE."]
    return []


# Who keeps the publishers' processing records of a département, and who reads its register.
RECORD_KEEPERS = ("admin", "dane", "cpd")
REGISTER_READERS = ("admin", "dane", "cpd", "dpo")


def departement_reasons(session: Session, actor: Actor, departement: str, *, write: bool) -> list[str]:
    """Why `actor` may not keep (write) or read the GDPR register of a département (empty when allowed)."""
    allowed = RECORD_KEEPERS if write else REGISTER_READERS
    label = ROLE_LABELS.get(actor.role, actor.role)
    if actor.role not in allowed:
        what = "enregistrer une fiche de traitement" if write else "consulter le registre des traitements"
        return [f"le rôle {label} ne peut pas {what} (rôles habilités : "
                + ", ".join(ROLE_LABELS[r] for r in allowed) + ")."]
    if actor.role == "admin":
        return []
    row = session.get(Departement, departement)
    academie = row.academie_code if row else None
    if actor.role == "cpd" and departement != actor.scope:
        return [f"le département {departement} est hors du département {actor.scope} de ce CPD."]
    if actor.role in ("dane", "dpo") and academie != actor.scope:
        return [f"le département {departement} est hors de l'académie {actor.scope} ({label})."]
    return []
