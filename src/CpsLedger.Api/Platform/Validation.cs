using FluentValidation;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using Wolverine.Http;
using Wolverine.Http.CodeGen;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Runs the request body's FluentValidation validator (when one is registered) before every Wolverine endpoint,
/// answering 400 with RFC 9457 field errors. Hand-written because WolverineFx.FluentValidation is not available here.
/// </summary>
public sealed class FluentValidationHttpPolicy : IHttpPolicy
{
    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains.Where(c => c.HasRequestType))
        {
            var validatorType = typeof(IValidator<>).MakeGenericType(chain.RequestType!);
            if (!container.HasRegistrationFor(validatorType))
                continue;

            var method = typeof(FluentValidationHttpExecutor)
                .GetMethod(nameof(FluentValidationHttpExecutor.ValidateAsync))!
                .MakeGenericMethod(chain.RequestType!);
            var call = new MethodCall(typeof(FluentValidationHttpExecutor), method);
            chain.Middleware.InsertRange(0, [call, new MaybeEndWithResultFrame(call.ReturnVariable!)]);
            chain.Metadata.ProducesValidationProblem();
        }
    }
}

public static class FluentValidationHttpExecutor
{
    public static async Task<IResult> ValidateAsync<T>(IValidator<T> validator, T message)
    {
        // An optional body left out (a nullable [FromBody], e.g. a member's migration): nothing to validate.
        if (message is null)
            return WolverineContinue.Result();
        var result = await validator.ValidateAsync(message);
        if (result.IsValid)
            return WolverineContinue.Result();
        // One sentence per field: a value that fails its first rule (an empty name) usually fails the ones after it too (not
        // an e-mail address, not a known country), and a portal shows the first, most basic one.
        return Results.ValidationProblem(FieldErrors(result));
    }

    /// <summary>One sentence per field: a value that fails its first rule usually fails the ones after it too.</summary>
    public static Dictionary<string, string[]> FieldErrors(FluentValidation.Results.ValidationResult result) =>
        result.Errors.GroupBy(e => e.PropertyName).ToDictionary(field => field.Key, field => new[] { field.First().ErrorMessage });
}

public static class ValidationConventions
{
    /// <summary>Field errors name the JSON members the client sent (camelCase), not the C# properties.</summary>
    public static void UseJsonFieldNames() =>
        ValidatorOptions.Global.PropertyNameResolver = (_, member, _) =>
            member is null ? null : System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(member.Name);

    /// <summary>
    /// A rule without a message of its own says what is wanted in the ledger's words, not the library's default wording
    /// ("'company Name' must not be empty."); <see cref="FluentValidationHttpExecutor"/> answers one sentence per field.
    /// </summary>
    public static void UseLedgerMessages() => ValidatorOptions.Global.LanguageManager = new LedgerMessages();

    /// <summary>
    /// The sentence for each kind of rule, next to the field the <c>errors</c> key already names (as the request gate's are).
    /// </summary>
    private sealed class LedgerMessages : FluentValidation.Resources.LanguageManager
    {
        public override string GetString(string key, System.Globalization.CultureInfo? culture = null) => key switch
        {
            "NotEmptyValidator" => "Must not be empty or blank.",
            "NotNullValidator" => "Required.",
            "NullValidator" => "Must be left out here.",
            "EmptyValidator" => "Must be left out or empty here.",
            "MaximumLengthValidator" or "MaximumLength_Simple" => "Must be at most {MaxLength} characters long.",
            "MinimumLengthValidator" or "MinimumLength_Simple" => "Must be at least {MinLength} characters long.",
            "LengthValidator" or "Length_Simple" => "Must be {MinLength} to {MaxLength} characters long.",
            "ExactLengthValidator" or "ExactLength_Simple" => "Must be exactly {MaxLength} characters long.",
            "GreaterThanValidator" => "Must be greater than {ComparisonValue}.",
            "GreaterThanOrEqualValidator" => "Must be {ComparisonValue} or more.",
            "LessThanValidator" => "Must be less than {ComparisonValue}.",
            "LessThanOrEqualValidator" => "Must be {ComparisonValue} or less.",
            "InclusiveBetweenValidator" or "InclusiveBetween_Simple" => "Must be from {From} to {To}.",
            "ExclusiveBetweenValidator" => "Must be greater than {From} and less than {To}.",
            "EqualValidator" => "Must be {ComparisonValue}.",
            "NotEqualValidator" => "Must not be {ComparisonValue}.",
            "ScalePrecisionValidator" or "PrecisionScaleValidator" => "Must have at most {ExpectedScale} decimal places and {ExpectedPrecision} digits in all.",
            "EnumValidator" or "StringEnumValidator" => "Must be one of the documented values.",
            "EmailValidator" => "Must be a valid e-mail address.",
            "RegularExpressionValidator" => "Is not in the documented form.",
            "PredicateValidator" or "AsyncPredicateValidator" => "Is not valid here.",
            _ => base.GetString(key, culture),
        };
    }
}
