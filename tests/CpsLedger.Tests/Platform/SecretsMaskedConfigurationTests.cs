using CpsLedger.Api.Platform;

namespace CpsLedger.Tests.Platform;

/// <summary>What <c>describe</c>'s configuration preview prints for a setting's value.</summary>
public sealed class SecretsMaskedConfigurationTests
{
    [Theory]
    [InlineData("Auth:SigningKey", "a-signing-key-of-at-least-32-bytes-0000")]
    [InlineData("OldEmailVerification:CodeKey", "a-code-key")]
    [InlineData("Mail:SmtpPassword", "smtp")]
    [InlineData("Gateway:ClientSecret", "s")]
    public void A_secret_is_shown_as_set_never_its_value(string path, string value) =>
        Assert.Equal(SecretsMaskedConfiguration.Masked, SecretsMaskedConfiguration.Shown(path, value));

    [Theory]
    [InlineData("Host=db;Username=ledger;Password=hunter2;Database=cpsledger", "Host=db;Username=ledger;Password=***;Database=cpsledger")]
    [InlineData("Password = 'a;b' ; Host=db", "Password = *** ; Host=db")]
    [InlineData("host=db;PWD=\"x;y\"", "host=db;PWD=***")]
    [InlineData("Host=db;Username=ledger", "Host=db;Username=ledger")]
    public void A_connection_string_is_shown_without_its_password(string value, string shown) =>
        Assert.Equal(shown, SecretsMaskedConfiguration.Shown("ConnectionStrings:Marten", value));

    [Theory]
    [InlineData("Ledger:SchemaName", "cpsledger")]
    [InlineData("Mail:SmtpHost", "smtp.example")]
    [InlineData("Seller:Payee:Iban", "NL91ABNA0417164300")]
    public void Any_other_setting_is_shown_as_it_is(string path, string value) =>
        Assert.Equal(value, SecretsMaskedConfiguration.Shown(path, value));
}
