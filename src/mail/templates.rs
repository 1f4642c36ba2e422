//! The text of every mail. Links are built on `HOODY_PUBLIC_URL`.

pub struct Mail {
    pub subject: &'static str,
    pub body: String,
}

pub fn verify_email(public_url: &str, token: &str, repeated_signup: bool) -> Mail {
    let note = if repeated_signup {
        "\nSomeone signed up again with this address before it was verified, so the account's password \
         was reset to the one given in that signup and every earlier verification link was cancelled. \
         If that was not you, do not use this link.\n"
    } else {
        ""
    };
    Mail {
        subject: "Verify your Hoody email address",
        body: format!(
            "Welcome to Hoody.\n\nConfirm your email address by opening this link within 24 hours:\n\n\
             {public_url}/verify-email?token={token}\n\nOr give the app this verification token:\n\n\
             Token: {token}\n{note}\nIf you did not sign up, ignore this mail.\n"
        ),
    }
}

pub fn reset_password(public_url: &str, token: &str) -> Mail {
    Mail {
        subject: "Reset your Hoody password",
        body: format!(
            "A password reset was requested for your Hoody account.\n\nOpen this link within 30 minutes \
             to choose a new password:\n\n{public_url}/reset-password?token={token}\n\n\
             Token: {token}\n\nIf you did not ask \
             for this, ignore this mail: your password stays as it is.\n"
        ),
    }
}

pub fn password_changed() -> Mail {
    Mail {
        subject: "Your Hoody password was changed",
        body: "The password of your Hoody account was just changed and every signed-in session was \
               signed out.\n\nIf you did not do this, reset your password now and contact support.\n"
            .to_owned(),
    }
}

pub fn waitlist_joined() -> Mail {
    Mail {
        subject: "You are on the Hoody waitlist",
        body: "Thanks for your interest in Hoody: this address is on the waitlist, and we will write \
               when your place comes up.\n\nIf you did not ask for this, ignore this mail; nothing else \
               will be sent.\n"
            .to_owned(),
    }
}
