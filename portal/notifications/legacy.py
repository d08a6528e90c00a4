# ruff: noqa: E501  (message ids are kept whole, as gettext extracts them)
"""The message ids of notifications written before the template files (issue 14).

Rows written between migrations 0006 and 0009 store their subject and body as gettext message ids and are
translated when shown (`Notification.subject_in`). The code no longer sends these texts (the template files
in `templates/` do), so they are listed here: the catalogue keeps them and those rows stay readable in
Vietnamese. Never remove one while such rows may exist.
"""

from __future__ import annotations

from portal.kernel.i18n import N_

LEGACY_MESSAGE_IDS = (
    N_("Dossier {code} completed"),
    N_("Dossier {code} is being processed"),
    N_("Dossier {code} is late: the agency apologises"),
    N_("Dossier {code} is past its appointment date"),
    N_("Dossier {code} received"),
    N_("Dossier {code} registered at the counter"),
    N_("Dossier {code} was rejected"),
    N_("Dossier {code}: a new processing step"),
    N_("Dossier {code}: additional documents requested"),
    N_("Dossier {code}: result delivered"),
    N_("Dossier {code}: the pickup of your originals failed"),
    N_("Dossier {code}: the postal service could not hand over your parcel"),
    N_("Dossier {code}: your originals arrived at the agency"),
    N_("Dossier {code}: your originals were picked up"),
    N_("Dossier {code}: your result is back at the agency"),
    N_("Dossier {code}: your result is on its way"),
    N_("Payment of {amount}\xa0VND received"),
    N_("The agency apologises for the delay of your dossier {code}: {reason} The new appointment date is {due}."),
    N_("The agency asks for more on your dossier {code}: {message} Open the dossier to answer."),
    N_("The agency issued the result of your dossier {code}. Open the dossier to download it."),
    N_("The agency received your dossier {code}. The result is due on {due}."),
    N_("The agency rejected your dossier {code}. Reason: {reason}"),
    N_("The agency started processing your dossier {code}."),
    N_("The paper originals of your dossier {code} arrived at the agency at {time} (tracking number {tracking})."),
    N_(
        "The portal received your payment of {amount}\xa0VND (reference {reference}). The e-receipt is on the dossier's page."
    ),
    N_(
        "The postal service could not bring the paper originals of your dossier {code} to the agency (tracking number {tracking}). Bring them to the centre, or contact the agency."
    ),
    N_(
        "The postal service could not deliver the result of your dossier {code} and brought it back to the agency (tracking number {tracking}). The result waits for you at the centre: collect it at the counter, or contact the agency."
    ),
    N_(
        "The postal service could not deliver the result of your dossier {code} at {time} (tracking number {tracking}): {reason}. It will try again; after the last failed attempt the result goes back to the agency."
    ),
    N_(
        "The postal service could not pick up the originals of your dossier {code} at {time} (tracking number {tracking}): {reason}. It will try again."
    ),
    N_(
        "The postal service delivered the result of your dossier {code} at {time} to {recipient} (tracking number {tracking})."
    ),
    N_(
        "The postal service picked up the paper originals of your dossier {code} at {time} (tracking number {tracking}). They are on their way to the agency."
    ),
    N_(
        "The postal service took the result of your dossier {code} from the agency at {time} (tracking number {tracking}). It is on its way to the address you gave."
    ),
    N_("The result of dossier {code} is ready"),
    N_("Your dossier {code} is at a new step of processing: {step}."),
    N_("Your dossier {code} is completed. Tell us how the service went: open the dossier to rate it."),
    N_("Your dossier {code} was due on {due} and the agency has not issued the result yet. The agency has been told."),
    N_(
        "Your dossier {code} was registered at the counter and received by the agency. The result is due on {due}. Follow it online with its code."
    ),
    N_("{amount}\xa0VND of payment {reference} was refunded through the payment gateway."),
    N_("{amount}\xa0VND refunded"),
)
