namespace CpsLedger.Api.Platform;

/// <summary>
/// A query parameter (or an [AsParameters] member) that takes an ISO 4217 currency code in upper case, one the platform's ICU data knows (as a tier table's). The set
/// is too long and too machine-dependent to list as an enum, so the OpenAPI document gives the parameter this pattern and an example
/// (<c>OpenApi.ParameterFacts</c>); the endpoint refuses any other value with <see cref="IsValid"/> (400 naming the parameter).
/// </summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.Property)]
public sealed class CurrencyCodeAttribute : Attribute
{
    public const string Pattern = "^[A-Z]{3}$";

    public const string Example = "EUR";

    /// <summary>Whether <paramref name="code"/> is a currency the parameter takes.</summary>
    public static bool IsValid(string code) => Tiers.PublishTierTableValidator.IsCurrency(code);
}
