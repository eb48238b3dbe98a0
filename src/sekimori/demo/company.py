"""The demo company: its networks, machines, people and working day.

A 30-machine office (26 workstations, a domain controller that also
resolves names, a file server, a mail server, a backup server) under the
Active Directory domain ``CORP`` and the mail domain
``sekimori-demo.example``. The day is 2026-11-24, 08:00–19:00 JST; every
timestamp written is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
DAY_START = datetime(2026, 11, 24, 8, 0, tzinfo=JST).astimezone(UTC)
DAY_END = datetime(2026, 11, 24, 19, 0, tzinfo=JST).astimezone(UTC)

MAIL_DOMAIN = "sekimori-demo.example"
AD_DOMAIN = "CORP"
AD_DNS_DOMAIN = f"corp.{MAIL_DOMAIN}"
DOMAIN_SID = "S-1-5-21-2771035409-1844395120-3371903251"
INTERNAL_NET = "10.1.0.0/16"

# The company's partners: real counterparts of the benign mail threads.
PARTNER_DOMAIN = "sakura-trading.example"
LOOKALIKE_DOMAIN = "sakura-tradinq.example"


def jst(hour: int, minute: int, second: float = 0.0) -> datetime:
    """A moment of the demo day given in JST wall-clock time, returned in UTC."""
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    local = datetime(2026, 11, 24, hour, minute, whole, micro, tzinfo=JST)
    return local.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class User:
    """A person of the company: account, display names, mail address."""

    account: str
    name_ja: str
    name_en: str
    rid: int
    admin: bool = False

    @property
    def email(self) -> str:
        """The user's mail address."""
        return f"{self.account}@{MAIL_DOMAIN}"

    @property
    def sid(self) -> str:
        """The user's domain SID."""
        return f"{DOMAIN_SID}-{self.rid}"


@dataclass(frozen=True, slots=True)
class Host:
    """A Windows machine of the company."""

    name: str
    ip: str
    role: str
    user: User | None = None

    @property
    def fqdn(self) -> str:
        """The name Windows writes in ``Computer``."""
        return f"{self.name}.{AD_DNS_DOMAIN}"

    @property
    def is_server(self) -> bool:
        """Servers audit process creation (4688) besides Sysmon."""
        return self.role != "workstation"


_PEOPLE = [
    ("sato", "佐藤 美咲", "Misaki Sato"),
    ("suzuki", "鈴木 大輔", "Daisuke Suzuki"),
    ("takahashi", "高橋 陽子", "Yoko Takahashi"),
    ("watanabe", "渡辺 翔太", "Shota Watanabe"),
    ("ito", "伊藤 真由美", "Mayumi Ito"),
    ("yamamoto", "山本 拓也", "Takuya Yamamoto"),
    ("tanaka", "田中 健一", "Kenichi Tanaka"),
    ("nakamura", "中村 彩", "Aya Nakamura"),
    ("kobayashi", "小林 誠", "Makoto Kobayashi"),
    ("kato", "加藤 恵", "Megumi Kato"),
    ("yoshida", "吉田 直樹", "Naoki Yoshida"),
    ("yamada", "山田 由美", "Yumi Yamada"),
    ("sasaki", "佐々木 亮", "Ryo Sasaki"),
    ("yamaguchi", "山口 千尋", "Chihiro Yamaguchi"),
    ("matsumoto", "松本 和也", "Kazuya Matsumoto"),
    ("inoue", "井上 沙織", "Saori Inoue"),
    ("kimura", "木村 浩二", "Koji Kimura"),
    ("hayashi", "林 優子", "Yuko Hayashi"),
    ("shimizu", "清水 達也", "Tatsuya Shimizu"),
    ("yamazaki", "山崎 愛", "Ai Yamazaki"),
    ("mori", "森 隆", "Takashi Mori"),
    ("abe", "阿部 久美子", "Kumiko Abe"),
    ("ikeda", "池田 健太", "Kenta Ikeda"),
    ("hashimoto", "橋本 里奈", "Rina Hashimoto"),
    ("ishikawa", "石川 修", "Osamu Ishikawa"),
    ("ogawa", "小川 奈々", "Nana Ogawa"),
]

USERS: tuple[User, ...] = tuple(
    User(account, ja, en, rid=1104 + i, admin=account == "suzuki")
    for i, (account, ja, en) in enumerate(_PEOPLE)
)
ADMIN = User("adm-suzuki", "鈴木 大輔 (管理者)", "Daisuke Suzuki (admin)", rid=1500, admin=True)
BACKUP_ACCOUNT = User("svc_backup", "バックアップ", "Backup service", rid=1501, admin=True)


def _user(account: str) -> User:
    return next(u for u in USERS if u.account == account)


WORKSTATIONS: tuple[Host, ...] = tuple(
    Host(f"WS-{i:02d}", f"10.1.10.{50 + i}", "workstation", USERS[i - 1]) for i in range(1, 27)
)
DC = Host("DC-01", "10.1.0.2", "domain-controller")
FILE_SERVER = Host("FS-01", "10.1.0.10", "file-server")
MAIL_SERVER = Host("MAIL-01", "10.1.0.25", "mail-server")
BACKUP_SERVER = Host("BK-01", "10.1.0.30", "backup-server")
SERVERS: tuple[Host, ...] = (DC, FILE_SERVER, MAIL_SERVER, BACKUP_SERVER)
HOSTS: tuple[Host, ...] = WORKSTATIONS + SERVERS

PATIENT_ZERO = next(h for h in WORKSTATIONS if h.user is not None and h.user.account == "tanaka")
VICTIM = PATIENT_ZERO.user if PATIENT_ZERO.user is not None else _user("tanaka")
