"""API tokens: issue, list, revoke (command, API, admin page), and revocation when a user's
password changes or the account is deactivated."""
