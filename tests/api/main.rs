//! One integration binary: the app on a random port, a fresh database per test.

mod harness;

mod auth_login;
mod auth_password;
mod auth_session;
mod auth_signup;
mod auth_verify;
mod embedded_postgres;
mod http_basics;
mod mail_smtp;
mod openapi_doc;
mod utilities_ip;
