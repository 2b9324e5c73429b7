using System.Diagnostics;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// What the service requires to start outside Development (docs/configuration.md), with the benchmark's throwaway values: a
/// signing key, the old-e-mail code key and the seller (the Development seller, illustrative).
/// </summary>
public static class ProductionSettings
{
    public const string SigningKey = "cpsledger-benchmark-signing-key-000000000000";
    public const string CodeKey = "cpsledger-benchmark-old-email-code-key-0000000";

    /// <summary>The settings by configuration key (sections separated by ':').</summary>
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>
    {
        ["Auth:SigningKey"] = SigningKey,
        ["OldEmailVerification:CodeKey"] = CodeKey,
        ["Seller:LegalName"] = "CPS Demo Europe B.V. (ILLUSTRATIVE)",
        ["Seller:Address:Street"] = "Voorbeeldstraat 1",
        ["Seller:Address:PostalCode"] = "1011 AA",
        ["Seller:Address:City"] = "Amsterdam",
        ["Seller:Address:Country"] = "NL",
        ["Seller:VatId"] = "NL123456782B01",
        ["Seller:CompanyRegistrationNumber"] = "12345678",
        ["Seller:Email"] = "invoices@cpsledger.example",
        ["Seller:Payee:Iban"] = "NL91ABNA0417164300",
        ["Seller:Payee:Bic"] = "ABNANL2A",
    };

    /// <summary>The same as environment variables of a child process ('__' for ':').</summary>
    public static void AddTo(ProcessStartInfo info)
    {
        foreach (var (key, value) in All)
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
    }
}
