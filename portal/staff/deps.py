"""Who is using the console and what they may see (being written by the staff sign-in: /work/team/ISSUE16.md).

Interface the console's pages code against:

    class StaffViewer:                     # frozen dataclass
        member: StaffMember
        session_id: str
        role: str                          # StaffRole value
        agency_code: str | None            # an officer's agency
        postal_operator: str | None        # a postal desk's operator
        def sees_agency(self, code: str | None) -> bool      # supervisor: every agency; officer: their own
        @property name -> str              # "Nguyễn Văn A (UBXA)" as written into audit events

    def current_staff(request) -> StaffViewer     # FastAPI dependency: a 303 to /staff/login when signed out
                                                  # or only half signed in (no TOTP yet); a 403 page for a
                                                  # citizen's session without staff session
    def staff_roles(*roles: StaffRole) -> Callable # dependency factory: 403 for other roles
"""
