//! `#[derive(Trace)]` and `#[derive(NoTrace)]` for gort-gc.
//!
//! `Trace` writes, for a struct, a `const` pointer layout built from each
//! field's own layout placed at its `offset_of!` (a mask for types up to 512
//! bytes, a bitmap array for bigger non-generic ones, the trace function
//! otherwise), and a `trace` method visiting every field. For an enum, whose
//! variant layout `offset_of!` cannot name on stable Rust, the layout is "no
//! pointers" if no field has any, else "use the trace function" (a `match`).
//! It also implements a marker trait that every `Drop` type implements too, so
//! that a traced type with its own `Drop` fails to compile (gc-arena's trick):
//! a destructor could reach objects the collector already freed.
//!
//! `NoTrace` implements the promise "holds no GC pointer" for a type whose
//! fields all make it, checked by `where` bounds on the field types.
//!
//! The generated code names `::gort_gc`; the traits, their documentation and
//! examples live there (`gort_gc::Trace`, `gort_gc::NoTrace`).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields, GenericParam, Index};

/// Implements `gort_gc::Trace` (see the crate documentation of `gort_gc`).
#[proc_macro_derive(Trace)]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match trace_impl(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Implements `gort_gc::NoTrace` (see the crate documentation of `gort_gc`).
#[proc_macro_derive(NoTrace)]
pub fn derive_no_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match no_trace_impl(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Rejects lifetime parameters (GC objects live as long as they are reachable:
/// `'static`) and adds `bound` to every type parameter.
fn generics_with_bound(input: &DeriveInput, bound: TokenStream2) -> syn::Result<syn::Generics> {
    let mut generics = input.generics.clone();
    for p in &mut generics.params {
        match p {
            GenericParam::Lifetime(l) => {
                return Err(syn::Error::new_spanned(
                    l,
                    "a garbage-collected type cannot borrow: it lives as long as it is reachable, so it must be 'static",
                ))
            }
            GenericParam::Type(t) => t.bounds.push(syn::parse2(bound.clone())?),
            GenericParam::Const(_) => {}
        }
    }
    Ok(generics)
}

fn trace_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let generics = generics_with_bound(input, quote!(::gort_gc::Trace))?;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let generic = !input.generics.params.is_empty();
    let tracer = quote!(tracer);

    let (pointers, body) = match &input.data {
        Data::Struct(s) => {
            let members: Vec<TokenStream2> = match &s.fields {
                Fields::Named(f) => f
                    .named
                    .iter()
                    .map(|f| {
                        let id = f.ident.as_ref().expect("named");
                        quote!(#id)
                    })
                    .collect(),
                Fields::Unnamed(f) => (0..f.unnamed.len())
                    .map(|i| {
                        let i = Index::from(i);
                        quote!(#i)
                    })
                    .collect(),
                Fields::Unit => Vec::new(),
            };
            let tys: Vec<&syn::Type> = s.fields.iter().map(|f| &f.ty).collect();
            let fields = |ty_name: TokenStream2| {
                quote! {
                    &[#((
                        ::core::mem::offset_of!(#ty_name, #members),
                        &<#tys as ::gort_gc::Trace>::POINTERS,
                    )),*]
                }
            };
            let pointers = if generic {
                // A generic type cannot size a bitmap array on stable Rust:
                // masks only (up to 512 bytes), the trace function beyond.
                let f = fields(quote!(Self));
                quote! {
                    ::gort_gc::__private::struct_pointers(::core::mem::size_of::<Self>(), #f, &[])
                }
            } else {
                let f = fields(quote!(#name));
                quote! {{
                    const FIELDS: &[(usize, &::gort_gc::Pointers)] = #f;
                    const BITMAP: [u64; ::gort_gc::__private::bitmap_words(::core::mem::size_of::<#name>())] =
                        ::gort_gc::__private::bitmap(FIELDS);
                    ::gort_gc::__private::struct_pointers(::core::mem::size_of::<#name>(), FIELDS, &BITMAP)
                }}
            };
            // Spanned at each field's type, so that a field that is not
            // `Trace` is reported once, there.
            let calls = members.iter().zip(&tys).map(
                |(m, ty)| quote_spanned!(ty.span()=> ::gort_gc::Trace::trace(&self.#m, #tracer);),
            );
            let body = quote! { #(#calls)* };
            (pointers, body)
        }
        Data::Enum(e) => {
            let mut all_tys = Vec::new();
            let mut arms = Vec::new();
            for v in &e.variants {
                let vname = &v.ident;
                let tys: Vec<&syn::Type> = v.fields.iter().map(|f| &f.ty).collect();
                all_tys.extend(tys.iter().copied());
                let binds: Vec<syn::Ident> = (0..v.fields.len())
                    .map(|i| format_ident!("__f{}", i, span = Span::call_site()))
                    .collect();
                let pat = match &v.fields {
                    Fields::Named(f) => {
                        let ids = f.named.iter().map(|f| f.ident.as_ref().expect("named"));
                        quote!(Self::#vname { #(#ids: #binds),* })
                    }
                    Fields::Unnamed(_) => quote!(Self::#vname(#(#binds),*)),
                    Fields::Unit => quote!(Self::#vname),
                };
                arms.push(quote! {
                    #pat => { #( ::gort_gc::Trace::trace(#binds, #tracer); )* }
                });
            }
            let pointers = quote! {
                ::gort_gc::__private::enum_pointers(&[#(&<#all_tys as ::gort_gc::Trace>::POINTERS),*])
            };
            let body = quote! {
                #[allow(unreachable_patterns)]
                match self { #(#arms)* }
            };
            (pointers, body)
        }
        Data::Union(u) => return Err(syn::Error::new_spanned(
            u.union_token,
            "a union cannot be traced: the collector could not tell which field holds a pointer",
        )),
    };

    Ok(quote! {
        // SAFETY: every field is `Trace`: the layout places each field's own
        // layout at its offset, and `trace` visits every field.
        #[automatically_derived]
        unsafe impl #impl_g ::gort_gc::Trace for #name #ty_g #where_c {
            const POINTERS: ::gort_gc::Pointers = #pointers;
            #[inline]
            #[allow(unused_variables)]
            fn trace(&self, #tracer: &mut ::gort_gc::Tracer<'_>) {
                #body
            }
        }
        // A traced type must not implement `Drop`: if this impl conflicts with
        // `impl<T: Drop> TraceTypesMustNotImplementDrop for T`, it does.
        #[automatically_derived]
        impl #impl_g ::gort_gc::__private::TraceTypesMustNotImplementDrop for #name #ty_g #where_c {}
    })
}

fn no_trace_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let generics = generics_with_bound(input, quote!(::gort_gc::NoTrace))?;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let tys: Vec<&syn::Type> =
        match &input.data {
            Data::Struct(s) => s.fields.iter().map(|f| &f.ty).collect(),
            Data::Enum(e) => e
                .variants
                .iter()
                .flat_map(|v| v.fields.iter().map(|f| &f.ty))
                .collect(),
            Data::Union(u) => return Err(syn::Error::new_spanned(
                u.union_token,
                "derive(NoTrace) does not look inside unions: implement NoTrace by hand (unsafe)",
            )),
        };
    let mut preds: Vec<TokenStream2> = where_c
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    // Spanned at each field's type: a field that breaks the promise is
    // reported there.
    preds.extend(
        tys.iter()
            .map(|t| quote_spanned!(t.span()=> #t: ::gort_gc::NoTrace)),
    );
    Ok(quote! {
        // SAFETY: every field is `NoTrace` (the `where` bounds check it).
        #[automatically_derived]
        unsafe impl #impl_g ::gort_gc::NoTrace for #name #ty_g where #(#preds),* {}
    })
}
