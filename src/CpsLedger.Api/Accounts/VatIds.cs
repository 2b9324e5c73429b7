using System.Text.RegularExpressions;

namespace CpsLedger.Api.Accounts;

/// <summary>The 27 member states of the European Union (ISO 3166-1 alpha-2), with their names in English.</summary>
public static class EuMemberStates
{
    private static readonly string[] Codes =
    [
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL",
        "PT", "RO", "SE", "SI", "SK",
    ];

    /// <summary>Each member state's name, from the one list of country names (<see cref="Platform.CountryCodes"/>).</summary>
    public static readonly IReadOnlyDictionary<string, string> Names =
        Codes.ToDictionary(code => code, Platform.CountryCodes.NameOf, StringComparer.Ordinal);

    public static bool Contains(string? country) => country is not null && Names.ContainsKey(country);
}

/// <summary>What a VAT ID check found. <paramref name="Country"/> is the ISO code (GR for the "EL" prefix).</summary>
public sealed record VatIdCheckResult(bool Valid, string? VatId, string? Country, string Method, string? Problem);

/// <summary>
/// The VAT ID check port. The shipped implementation is offline (format and check digits); an adapter for the European
/// Commission's VIES service (does the number exist and is it active?) would implement this and be registered instead.
/// </summary>
public interface IVatIdCheck
{
    Task<VatIdCheckResult> CheckAsync(string vatId, CancellationToken ct);
}

/// <summary>The offline check: <see cref="VatIds.Check"/>. Nothing leaves the machine.</summary>
public sealed class OfflineVatIdCheck : IVatIdCheck
{
    public Task<VatIdCheckResult> CheckAsync(string vatId, CancellationToken ct) => Task.FromResult(VatIds.Check(vatId));
}

/// <summary>
/// EU VAT identification numbers: the member state's prefix (EL for Greece) and its national format, and, where the
/// country publishes one and it is implemented here, the check digit. A number that passes exists only in form: whether
/// it is registered is VIES's answer, not this one's.
/// </summary>
public static partial class VatIds
{
    public const string OfflineMethod = "offline: format and check digits";

    // National formats after the prefix (the European Commission's VIES format list).
    private static readonly Dictionary<string, Regex> Formats = new(StringComparer.Ordinal)
    {
        ["AT"] = new(@"^U\d{8}$"),
        ["BE"] = new(@"^[01]\d{9}$"),
        ["BG"] = new(@"^\d{9,10}$"),
        ["CY"] = new(@"^\d{8}[A-Z]$"),
        ["CZ"] = new(@"^\d{8,10}$"),
        ["DE"] = new(@"^\d{9}$"),
        ["DK"] = new(@"^\d{8}$"),
        ["EE"] = new(@"^10\d{7}$"),
        ["EL"] = new(@"^\d{9}$"),
        ["ES"] = new(@"^[A-Z0-9]\d{7}[A-Z0-9]$"),
        ["FI"] = new(@"^\d{8}$"),
        ["FR"] = new(@"^[A-HJ-NP-Z0-9]{2}\d{9}$"),
        ["HR"] = new(@"^\d{11}$"),
        ["HU"] = new(@"^\d{8}$"),
        ["IE"] = new(@"^(\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W])$"),
        ["IT"] = new(@"^\d{11}$"),
        ["LT"] = new(@"^(\d{9}|\d{12})$"),
        ["LU"] = new(@"^\d{8}$"),
        ["LV"] = new(@"^\d{11}$"),
        ["MT"] = new(@"^\d{8}$"),
        ["NL"] = new(@"^\d{9}B\d{2}$"),
        ["PL"] = new(@"^\d{10}$"),
        ["PT"] = new(@"^\d{9}$"),
        ["RO"] = new(@"^[1-9]\d{1,9}$"),
        ["SE"] = new(@"^\d{10}01$"),
        ["SI"] = new(@"^[1-9]\d{7}$"),
        ["SK"] = new(@"^[1-9]\d{9}$"),
    };

    /// <summary>The VAT ID's prefix for a member state: the ISO code, except Greece (EL).</summary>
    public static string PrefixOf(string country) => country == "GR" ? "EL" : country;

    /// <summary>The ISO country of a VAT ID prefix (EL is Greece).</summary>
    public static string CountryOfPrefix(string prefix) => prefix == "EL" ? "GR" : prefix;

    /// <summary>Spaces, dots and dashes removed, upper case: "de 143.454.214" is "DE143454214".</summary>
    public static string Normalize(string vatId) => NotPartOfTheNumber().Replace(vatId.ToUpperInvariant(), "");

    [GeneratedRegex(@"[\s.\-]")]
    private static partial Regex NotPartOfTheNumber();

    public static VatIdCheckResult Check(string? vatId)
    {
        if (string.IsNullOrWhiteSpace(vatId))
            return Invalid(null, null, "A VAT ID is required here.");
        var id = Normalize(vatId);
        if (id.Length < 4 || !char.IsAsciiLetter(id[0]) || !char.IsAsciiLetter(id[1]))
            return Invalid(id, null, "A VAT ID starts with its country's prefix, e.g. DE143454214 or EL094259216.");
        var prefix = id[..2];
        var country = CountryOfPrefix(prefix);
        if (prefix == "GR")
            return Invalid(id, "GR", "Greek VAT IDs start with EL, not GR.");
        if (!Formats.TryGetValue(prefix, out var format))
            return Invalid(id, country, $"{prefix} is not the VAT prefix of an EU member state.");
        var number = id[2..];
        if (!format.IsMatch(number))
            return Invalid(id, country, $"{id} does not have the format of a VAT ID of {Platform.CountryCodes.NameOf(country)}.");
        if (CheckDigitsHold(prefix, number) is false)
            return Invalid(id, country, $"{id} fails the check digit of {Platform.CountryCodes.NameOf(country)}'s VAT IDs: is a digit mistyped?");
        return new VatIdCheckResult(true, id, country, OfflineMethod, null);
    }

    private static VatIdCheckResult Invalid(string? id, string? country, string problem) => new(false, id, country, OfflineMethod, problem);

    /// <summary>True or false where the country's check digit is implemented here; null (format only) elsewhere.</summary>
    internal static bool? CheckDigitsHold(string prefix, string number)
    {
        int D(int i) => number[i] - '0';
        switch (prefix)
        {
            case "AT":
                {
                    // U + 7 digits + check: odd positions as they are, even positions doubled (digit sum).
                    var sum = 0;
                    for (var i = 1; i <= 7; i++)
                        sum += i % 2 == 1 ? D(i) : DigitSum(D(i) * 2);
                    return (10 - (sum + 4) % 10) % 10 == D(8);
                }
            case "BE":
                return 97 - long.Parse(number[..8]) % 97 == int.Parse(number[8..]);
            case "DE":
                {
                    // ISO 7064 MOD 11,10.
                    var product = 10;
                    for (var i = 0; i < 8; i++)
                    {
                        var sum = (D(i) + product) % 10;
                        if (sum == 0)
                            sum = 10;
                        product = 2 * sum % 11;
                    }

                    var check = 11 - product;
                    return (check == 10 ? 0 : check) == D(8);
                }
            case "DK":
                return Weighted(number, [2, 7, 6, 5, 4, 3, 2, 1]) % 11 == 0;
            case "EE":
                return (10 - Weighted(number, [3, 7, 1, 3, 7, 1, 3, 7]) % 10) % 10 == D(8);
            case "FI":
                {
                    var r = Weighted(number, [7, 9, 10, 5, 8, 4, 2]) % 11;
                    return r != 1 && (r == 0 ? 0 : 11 - r) == D(7);
                }
            case "FR":
                // The key is numeric for companies' numbers (letters in the key are an older, other scheme: format only).
                return number[..2].All(char.IsAsciiDigit) ? (12 + 3 * (long.Parse(number[2..]) % 97)) % 97 == int.Parse(number[..2]) : null;
            case "IE":
                {
                    // Current format only (7 digits, check letter, optional second letter); the old format is checked by its form.
                    if (!char.IsAsciiDigit(number[1]))
                        return null;
                    var sum = Weighted(number, [8, 7, 6, 5, 4, 3, 2]) + (number.Length == 9 ? 9 * (number[8] - 'A' + 1) : 0);
                    return "WABCDEFGHIJKLMNOPQRSTUV"[sum % 23] == number[7];
                }
            case "IT":
                {
                    // Luhn over the first ten digits.
                    var sum = 0;
                    for (var i = 0; i < 10; i++)
                        sum += i % 2 == 0 ? D(i) : DigitSum(D(i) * 2);
                    return (10 - sum % 10) % 10 == D(10);
                }
            case "LU":
                return long.Parse(number[..6]) % 89 == int.Parse(number[6..]);
            case "NL":
                {
                    // Companies: 11-test on the nine digits; sole traders since 2020: ISO 7064 MOD 97-10 over "NL" + number.
                    var r = Weighted(number, [9, 8, 7, 6, 5, 4, 3, 2]) % 11;
                    return r == D(8) || Iso7064Mod97("NL" + number) == 1;
                }
            case "PL":
                {
                    var r = Weighted(number, [6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
                    return r != 10 && r == D(9);
                }
            case "PT":
                {
                    var r = Weighted(number, [9, 8, 7, 6, 5, 4, 3, 2]) % 11;
                    return (r < 2 ? 0 : 11 - r) == D(8);
                }
            case "SE":
                {
                    // Luhn over the organisation number (the first ten digits); "01" follows.
                    var sum = 0;
                    for (var i = 0; i < 10; i++)
                        sum += i % 2 == 0 ? DigitSum(D(i) * 2) : D(i);
                    return sum % 10 == 0;
                }
            default:
                return null;
        }
    }

    private static int Weighted(string number, int[] weights)
    {
        var sum = 0;
        for (var i = 0; i < weights.Length; i++)
            sum += (number[i] - '0') * weights[i];
        return sum;
    }

    private static int DigitSum(int n) => n / 10 + n % 10;

    /// <summary>ISO 7064 MOD 97-10 of letters (A = 10 … Z = 35) and digits: 1 for a valid IBAN or creditor reference.</summary>
    public static int Iso7064Mod97(string text)
    {
        var remainder = 0;
        foreach (var c in text)
        {
            var value = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'A' and <= 'Z' => c - 'A' + 10,
                >= 'a' and <= 'z' => c - 'a' + 10,
                _ => -1,
            };
            if (value < 0)
                return -1;
            remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
        }

        return remainder;
    }
}
